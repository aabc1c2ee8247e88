// The frame around every signed-in page: skip link, navigation (items a role cannot use
// are left out), theme switcher, the user and sign-out.
import { NavLink, Outlet } from 'react-router';
import { useTranslation } from 'react-i18next';
import { Activity, HardDrive, Layers, LayoutDashboard, LogOut, Monitor, Moon, PlusCircle, Radar, Server, Settings, Sun } from 'lucide-react';
import { useAuth } from '../auth/AuthProvider';
import { useTheme, type ThemeChoice } from '../lib/theme';
import { cn } from '../lib/cn';
import { Button } from './ui';

const THEME_ICONS: Record<ThemeChoice, typeof Sun> = { light: Sun, dark: Moon, system: Monitor };

function ThemeSwitcher() {
  const { t } = useTranslation();
  const { choice, setChoice } = useTheme();
  return (
    <div role="radiogroup" aria-label={t('theme.label')} className="flex rounded-md border border-border">
      {(['light', 'dark', 'system'] as const).map((option) => {
        const Icon = THEME_ICONS[option];
        return (
          <button
            key={option}
            type="button"
            role="radio"
            aria-checked={choice === option}
            aria-label={t(`theme.${option}`)}
            title={t(`theme.${option}`)}
            onClick={() => setChoice(option)}
            className={cn('p-1.5', choice === option ? 'bg-accent text-accent-foreground' : 'text-muted-foreground')}
          >
            <Icon className="size-4" aria-hidden="true" />
          </button>
        );
      })}
    </div>
  );
}

export function Layout() {
  const { t } = useTranslation();
  const { me, can, logout } = useAuth();
  const items = [
    { to: '/', label: t('nav.dashboard'), icon: LayoutDashboard, end: true, show: true },
    { to: '/jobs/new', label: t('nav.newJob'), icon: PlusCircle, end: true, show: can('operator') },
    { to: '/runs', label: t('nav.runs'), icon: Activity, end: false, show: true },
    { to: '/scans', label: t('nav.scans'), icon: Radar, end: false, show: true },
    { to: '/inventory', label: t('nav.inventory'), icon: HardDrive, end: false, show: true },
    { to: '/groups', label: t('nav.groups'), icon: Layers, end: false, show: true },
    { to: '/agents', label: t('nav.agents'), icon: Server, end: false, show: true },
    { to: '/settings', label: t('nav.settings'), icon: Settings, end: false, show: true },
  ].filter((item) => item.show);

  return (
    <div className="flex min-h-screen flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:absolute focus:top-2 focus:left-2 focus:z-50 focus:rounded focus:bg-background focus:p-2"
      >
        {t('app.skip')}
      </a>
      <header className="border-b border-border bg-card">
        <div className="mx-auto flex max-w-screen-2xl flex-wrap items-center gap-x-4 gap-y-2 px-4 py-2">
          <span className="font-semibold">{t('app.name')}</span>
          <nav aria-label={t('nav.main')} className="flex flex-1 flex-wrap gap-1">
            {items.map(({ to, label, icon: Icon, end }) => (
              <NavLink
                key={to}
                to={to}
                end={end}
                className={({ isActive }) =>
                  cn(
                    'inline-flex items-center gap-1.5 rounded-md px-2.5 py-1.5 text-sm',
                    isActive ? 'bg-accent font-medium text-accent-foreground' : 'text-muted-foreground hover:text-foreground',
                  )
                }
              >
                <Icon className="size-4" aria-hidden="true" />
                {label}
              </NavLink>
            ))}
          </nav>
          <ThemeSwitcher />
          {me && (
            <span className="text-sm text-muted-foreground" data-testid="signed-in-as">
              {t('nav.signedInAs', { name: me.user.display_name || me.user.username, role: t(`roles.${me.role}`) })}
            </span>
          )}
          <Button variant="ghost" size="sm" onClick={() => void logout()}>
            <LogOut className="size-4" aria-hidden="true" />
            {t('nav.signOut')}
          </Button>
        </div>
      </header>
      <main id="main" tabIndex={-1} className="mx-auto w-full max-w-screen-2xl flex-1 px-4 py-4">
        <Outlet />
      </main>
    </div>
  );
}
