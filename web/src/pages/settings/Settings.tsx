// Settings: one URL per section (`/settings/users`, `/settings/credentials` …), a side
// navigation between them. Sections a role may not use are left out of the navigation and
// say so when opened by URL.
import { useEffect, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, NavLink, Route, Routes, useLocation } from 'react-router';
import { FileClock, Fingerprint, KeyRound, KeySquare, Lock, SlidersHorizontal, Ticket, UserCircle, Users as UsersIcon } from 'lucide-react';
import { useAuth } from '../../auth/AuthProvider';
import { PageHeader } from '../../components/ui';
import { cn } from '../../lib/cn';
import Account from './Account';
import ApiTokens from './ApiTokens';
import Audit from './Audit';
import ControllerSettings from './ControllerSettings';
import Credentials from './Credentials';
import Enrollment from './Enrollment';
import HostKeys from './HostKeys';
import Users from './Users';

interface Section {
  path: string;
  icon: typeof Lock;
  adminOnly?: boolean;
  element: ReactNode;
}

const SECTIONS: Section[] = [
  { path: 'account', icon: UserCircle, element: <Account /> },
  { path: 'api-tokens', icon: KeySquare, element: <ApiTokens /> },
  { path: 'users', icon: UsersIcon, adminOnly: true, element: <Users /> },
  { path: 'credentials', icon: KeyRound, element: <Credentials /> },
  { path: 'enrollment', icon: Ticket, element: <Enrollment /> },
  { path: 'controller', icon: SlidersHorizontal, element: <ControllerSettings /> },
  { path: 'ssh-host-keys', icon: Fingerprint, element: <HostKeys /> },
  { path: 'audit', icon: FileClock, adminOnly: true, element: <Audit /> },
];

function AdminOnly({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const { can } = useAuth();
  if (can('admin')) return <>{children}</>;
  return (
    <div role="status" className="flex items-center gap-2 rounded-md border border-border p-4 text-sm">
      <Lock className="size-4 text-muted-foreground" aria-hidden="true" />
      {t('settings.adminOnly')}
    </div>
  );
}

export default function Settings() {
  const { t } = useTranslation();
  const { can } = useAuth();
  const visible = SECTIONS.filter((s) => !s.adminOnly || can('admin'));
  const { pathname } = useLocation();
  const section = SECTIONS.find((s) => pathname === `/settings/${s.path}` || pathname.startsWith(`/settings/${s.path}/`));
  useEffect(() => {
    const settings = `${t('settings.title')} · OpsConductor`;
    document.title = section ? `${t(`settings.nav.${section.path}`)} · ${settings}` : settings;
  }, [t, section]);
  return (
    <div>
      <PageHeader title={t('settings.title')} />
      <div className="flex flex-col gap-6 md:flex-row">
        <nav aria-label={t('settings.sections')} className="md:w-56 md:shrink-0">
          <ul className="flex flex-row flex-wrap gap-1 md:flex-col">
            {visible.map(({ path, icon: Icon }) => (
              <li key={path}>
                <NavLink
                  to={`/settings/${path}`}
                  className={({ isActive }) =>
                    cn(
                      'flex items-center gap-2 rounded-md px-2.5 py-1.5 text-sm',
                      isActive ? 'bg-accent font-medium text-accent-foreground' : 'text-muted-foreground hover:text-foreground',
                    )
                  }
                >
                  <Icon className="size-4" aria-hidden="true" />
                  {t(`settings.nav.${path}`)}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="min-w-0 flex-1">
          <Routes>
              <Route index element={<Navigate to="account" replace />} />
              {SECTIONS.map(({ path, adminOnly, element }) => (
                <Route key={path} path={path} element={adminOnly ? <AdminOnly>{element}</AdminOnly> : element} />
              ))}
              <Route path="*" element={<Navigate to="account" replace />} />
          </Routes>
        </div>
      </div>
    </div>
  );
}
