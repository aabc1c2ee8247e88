import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Navigate, useLocation } from 'react-router';
import { useAuth } from '../auth/AuthProvider';
import { errorMessage } from '../api/client';
import { Button, Card, Field, Input } from '../components/ui';

export default function Login() {
  const { t } = useTranslation();
  const { signedIn, login } = useAuth();
  const location = useLocation();
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);

  const from = (location.state as { from?: string } | null)?.from ?? '/';
  if (signedIn) return <Navigate to={from} replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(undefined);
    try {
      await login(username, password);
    } catch (e) {
      setError(t('login.failed', { message: errorMessage(e) }));
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="flex min-h-screen items-center justify-center p-4">
      <Card className="w-full max-w-sm p-6">
        <h1 className="mb-4 text-xl font-semibold">{t('login.title')}</h1>
        <form onSubmit={submit} className="flex flex-col gap-4" noValidate>
          <Field id="username" label={t('login.username')}>
            <Input id="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} autoFocus />
          </Field>
          <Field id="password" label={t('login.password')}>
            <Input
              id="password"
              type="password"
              autoComplete="current-password"
              required
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          </Field>
          {error && (
            <p role="alert" className="text-sm text-destructive">
              {error}
            </p>
          )}
          <Button type="submit" variant="primary" disabled={busy || !username || !password}>
            {busy ? t('login.submitting') : t('login.submit')}
          </Button>
        </form>
      </Card>
    </main>
  );
}
