// SSH host keys trusted on first use. A refused key (the host presented a different one) is
// flagged; forgetting the record trusts the next key presented (admins).
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Fingerprint } from 'lucide-react';
import { toast } from 'sonner';
import { api, unwrap, type Schemas } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { StatusBadge } from '../../components/Status';
import { Button, Card, EmptyState, QueryStatus } from '../../components/ui';
import { ConfirmAction, RelativeTime, tableClass, tdClass, ReadOnlyNote, TableHead } from '../../components/widgets';
import { SectionHeader, useAdminReason } from './shared';

type HostKey = Schemas['SshHostKeyView'];

export default function HostKeys() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const isAdmin = can('admin');
  const reason = useAdminReason();
  const queryClient = useQueryClient();
  const keys = useQuery({ queryKey: ['ssh-host-keys'], queryFn: async () => unwrap(await api.GET('/api/v1/ssh-host-keys')) });
  const [forgetting, setForgetting] = useState<HostKey | null>(null);
  const items = [...(keys.data ?? [])].sort((a, b) => Number(!!b.refused_key) - Number(!!a.refused_key) || a.host.localeCompare(b.host));
  const address = (k: HostKey | null) => (k ? `${k.host}:${k.port}` : '');

  return (
    <section>
      <SectionHeader title={t('settings.hostKeys.title')} description={t('settings.hostKeys.description')} />
      {!can('admin') && (
        <div className="mb-3">
          <ReadOnlyNote>{t('settings.hostKeys.readOnly')}</ReadOnlyNote>
        </div>
      )}
      <Card className="overflow-x-auto">
        {keys.isPending || keys.isError ? (
          <QueryStatus query={keys} rows={3} />
        ) : items.length === 0 ? (
          <EmptyState icon={<Fingerprint className="size-8" aria-hidden="true" />} title={t('settings.hostKeys.empty')}>
            {t('settings.hostKeys.emptyHelp')}
          </EmptyState>
        ) : (
          <table className={tableClass}>
            <TableHead caption={t('settings.hostKeys.caption')} columns={[t('settings.hostKeys.host'), t('settings.hostKeys.key'), t('settings.hostKeys.status'), t('settings.hostKeys.firstSeen'), t('settings.hostKeys.lastSeen')]} hiddenLast={t('settings.actions')} />
            <tbody>
              {items.map((key) => (
                <tr key={key.id}>
                  <th scope="row" className={`${tdClass} text-left font-mono text-xs font-medium`}>
                    {address(key)}
                  </th>
                  <td className={`${tdClass} font-mono text-xs break-all`}>
                    <div>{key.algorithm}</div>
                    <div>{key.fingerprint}</div>
                  </td>
                  <td className={tdClass}>
                    {key.refused_key ? (
                      <div className="flex flex-col gap-1">
                        <StatusBadge status="warn" label={t('settings.hostKeys.refused')} />
                        <span className="font-mono text-xs break-all">{key.refused_key}</span>
                        {key.refused_at && <RelativeTime value={key.refused_at} className="text-xs" />}
                      </div>
                    ) : (
                      <StatusBadge status="ok" label={t('settings.hostKeys.trusted')} />
                    )}
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={key.first_seen_at} />
                    {key.first_seen_by && (
                      <div className="font-mono text-xs text-muted-foreground" title={t('settings.hostKeys.firstSeenBy')}>
                        {key.first_seen_by.slice(0, 8)}
                      </div>
                    )}
                  </td>
                  <td className={`${tdClass} whitespace-nowrap`}>
                    <RelativeTime value={key.last_seen_at} />
                  </td>
                  <td className={`${tdClass} text-right`}>
                    <Button
                      size="sm"
                      variant="ghost"
                      className="text-destructive"
                      disabled={!isAdmin}
                      disabledReason={reason}
                      aria-label={t('settings.hostKeys.forgetNamed', { host: address(key) })}
                      onClick={() => setForgetting(key)}
                    >
                      {t('settings.hostKeys.forget')}
                    </Button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </Card>
      <ConfirmAction
        open={forgetting !== null}
        onOpenChange={(open) => !open && setForgetting(null)}
        title={t('settings.hostKeys.forgetTitle', { host: address(forgetting) })}
        confirmLabel={t('settings.hostKeys.forgetConfirm')}
        danger
        onConfirm={async () => {
          if (!forgetting) return;
          unwrap(await api.DELETE('/api/v1/ssh-host-keys/{id}', { params: { path: { id: forgetting.id } } }));
          toast.success(t('settings.hostKeys.forgotten', { host: address(forgetting) }));
          await queryClient.invalidateQueries({ queryKey: ['ssh-host-keys'] });
        }}
      >
        <p>{t('settings.hostKeys.forgetBody', { host: address(forgetting) })}</p>
        {forgetting?.refused_key && <p className="mt-2 font-medium">{t('settings.hostKeys.checkRefused', { key: forgetting.refused_key })}</p>}
      </ConfirmAction>
    </section>
  );
}
