// Enrollment tokens: a one-time token for a segment (admins), the same form as on the agents
// page. Tokens are not listed: each is shown once, when created.
import { useTranslation } from 'react-i18next';
import { Link } from 'react-router';
import { useAuth } from '../../auth/AuthProvider';
import { Card, ErrorState, LoadingRows } from '../../components/ui';
import { useSegments } from '../agents/Agents';
import { EnrollmentTokenForm } from '../agents/EnrollmentToken';
import { ReadOnlyNote } from '../../components/widgets';
import { SectionHeader } from './shared';

export default function Enrollment() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const segments = useSegments();
  return (
    <section>
      <SectionHeader title={t('settings.enrollment.title')} description={t('settings.enrollment.description')} />
      {!can('admin') && (
        <div className="mb-3">
          <ReadOnlyNote>{t('settings.enrollment.readOnly')}</ReadOnlyNote>
        </div>
      )}
      <Card className="max-w-xl p-4">
        {segments.isPending ? (
          <LoadingRows rows={2} />
        ) : segments.isError ? (
          <ErrorState error={segments.error} onRetry={() => void segments.refetch()} />
        ) : (
          <EnrollmentTokenForm segments={segments.data.map((s) => s.name).sort()} canCreate={can('admin')} />
        )}
      </Card>
      <p className="mt-3 text-sm">
        <Link to="/agents" className="text-primary underline">
          {t('settings.enrollment.agentsLink')}
        </Link>
      </p>
    </section>
  );
}
