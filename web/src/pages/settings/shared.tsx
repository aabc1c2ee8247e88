// Pieces the settings sections share.
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { Schemas } from '../../api/client';

export type Role = Schemas['Role'];
export const ROLES: Role[] = ['viewer', 'operator', 'admin'];

/** A section's heading (h2), what it is for, and its main actions. */
export function SectionHeader({ title, description, actions }: { title: ReactNode; description?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-3 flex flex-wrap items-start justify-between gap-3">
      <div className="min-w-0">
        <h2 className="text-lg font-semibold">{title}</h2>
        {description && <p className="mt-1 max-w-prose text-sm text-muted-foreground">{description}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

/** "Needs the admin role", the reason a disabled admin action gives. */
export function useAdminReason(): string {
  const { t } = useTranslation();
  return t('common.requiresRole', { role: t('roles.admin') });
}

/** `"3"`: a version as an `If-Match` value. */
export function ifMatch(version: number): string {
  return `"${version}"`;
}
