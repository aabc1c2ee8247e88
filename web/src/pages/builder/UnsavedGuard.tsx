// The unsaved-changes guard: the browser's own prompt when the tab closes or reloads
// (`beforeunload`), and a confirmation before leaving the builder inside the app. With a data
// router that is react-router's `useBlocker` (links, back/forward, programmatic navigation);
// under a plain <BrowserRouter>, where `useBlocker` is not available, in-app link clicks are
// intercepted instead.
import { useContext, useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { UNSAFE_DataRouterContext, useBlocker, useNavigate } from 'react-router';
import { ConfirmDialog } from '../../components/Dialog';

export interface GuardProps {
  /** Whether leaving now would lose changes (read when a navigation starts). */
  shouldBlock: () => boolean;
}

function LeaveDialog({ open, onStay, onLeave }: { open: boolean; onStay: () => void; onLeave: () => void }) {
  const { t } = useTranslation();
  return (
    <ConfirmDialog
      open={open}
      onOpenChange={(next) => !next && onStay()}
      title={t('builder.guard.title')}
      confirmLabel={t('builder.guard.leave')}
      danger
      onConfirm={onLeave}
    >
      {t('builder.guard.body')}
    </ConfirmDialog>
  );
}

function BlockerGuard({ shouldBlock }: GuardProps) {
  const check = useRef(shouldBlock);
  check.current = shouldBlock;
  const blocker = useBlocker(
    ({ currentLocation, nextLocation }) => check.current() && currentLocation.pathname !== nextLocation.pathname,
  );
  return (
    <LeaveDialog
      open={blocker.state === 'blocked'}
      onStay={() => blocker.state === 'blocked' && blocker.reset()}
      onLeave={() => blocker.state === 'blocked' && blocker.proceed()}
    />
  );
}

function LinkGuard({ shouldBlock }: GuardProps) {
  const navigate = useNavigate();
  const check = useRef(shouldBlock);
  check.current = shouldBlock;
  const [pending, setPending] = useState<string | null>(null);
  useEffect(() => {
    const onClick = (event: MouseEvent) => {
      if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const anchor = (event.target as Element | null)?.closest?.('a[href]') as HTMLAnchorElement | null;
      if (!anchor || (anchor.target && anchor.target !== '_self') || anchor.hasAttribute('download')) return;
      const url = new URL(anchor.href, location.href);
      if (url.origin !== location.origin || url.pathname === location.pathname) return;
      if (!check.current()) return;
      event.preventDefault();
      event.stopPropagation();
      setPending(url.pathname + url.search + url.hash);
    };
    document.addEventListener('click', onClick, true);
    return () => document.removeEventListener('click', onClick, true);
  }, []);
  return (
    <LeaveDialog
      open={pending !== null}
      onStay={() => setPending(null)}
      onLeave={() => {
        const to = pending;
        setPending(null);
        if (to) void navigate(to, { state: { guardBypassed: true } });
      }}
    />
  );
}

export function UnsavedGuard({ shouldBlock }: GuardProps) {
  const dataRouter = useContext(UNSAFE_DataRouterContext);
  const check = useRef(shouldBlock);
  check.current = shouldBlock;
  useEffect(() => {
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (!check.current()) return;
      event.preventDefault();
      // Older browsers show the prompt only with a return value.
      event.returnValue = '';
    };
    window.addEventListener('beforeunload', onBeforeUnload);
    return () => window.removeEventListener('beforeunload', onBeforeUnload);
  }, []);
  return dataRouter ? <BlockerGuard shouldBlock={shouldBlock} /> : <LinkGuard shouldBlock={shouldBlock} />;
}
