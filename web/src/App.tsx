// Routes. Pages load lazily so the dashboard's first load carries neither the Job Builder's
// forms and editor nor the charts.
import { lazy, Suspense, type ReactNode } from 'react';
import { Navigate, Route, Routes, useLocation, Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useAuth } from './auth/AuthProvider';
import { Layout } from './components/Layout';
import { LoadingRows } from './components/ui';
import Login from './pages/Login';
import Dashboard from './pages/dashboard/Dashboard';

const JobBuilder = lazy(() => import('./pages/builder/JobBuilder'));
const RunView = lazy(() => import('./pages/runs/RunView'));
const RunList = lazy(() => import('./pages/runs/RunList'));
const JobHistory = lazy(() => import('./pages/history/JobHistory'));
const Agents = lazy(() => import('./pages/agents/Agents'));
const Scans = lazy(() => import('./pages/scans/Scans'));
const ScanView = lazy(() => import('./pages/scans/ScanView'));
const Inventory = lazy(() => import('./pages/inventory/Inventory'));
const DeviceView = lazy(() => import('./pages/inventory/DeviceView'));
const Groups = lazy(() => import('./pages/groups/Groups'));
const Settings = lazy(() => import('./pages/settings/Settings'));

function RequireSignIn({ children }: { children: ReactNode }) {
  const { signedIn, loading } = useAuth();
  const location = useLocation();
  if (!signedIn) return <Navigate to="/login" replace state={{ from: location.pathname + location.search }} />;
  if (loading) return <LoadingRows />;
  return <>{children}</>;
}

function NotFound() {
  const { t } = useTranslation();
  const location = useLocation();
  return (
    <div className="flex flex-col gap-2">
      <p>{t('common.notFound', { path: location.pathname })}</p>
      <Link className="text-primary underline" to="/">
        {t('common.backHome')}
      </Link>
    </div>
  );
}

function Lazy({ children }: { children: ReactNode }) {
  return <Suspense fallback={<LoadingRows />}>{children}</Suspense>;
}

export default function App() {
  return (
    <Routes>
      <Route path="/login" element={<Login />} />
      <Route
        element={
          <RequireSignIn>
            <Layout />
          </RequireSignIn>
        }
      >
        <Route index element={<Dashboard />} />
        <Route path="jobs/new" element={<Lazy><JobBuilder /></Lazy>} />
        <Route path="jobs/:jobId/edit" element={<Lazy><JobBuilder /></Lazy>} />
        <Route path="jobs/:jobId" element={<Lazy><JobHistory /></Lazy>} />
        <Route path="runs" element={<Lazy><RunList /></Lazy>} />
        <Route path="runs/:runId" element={<Lazy><RunView /></Lazy>} />
        <Route path="scans" element={<Lazy><Scans /></Lazy>} />
        <Route path="scans/:scanId" element={<Lazy><ScanView /></Lazy>} />
        <Route path="inventory" element={<Lazy><Inventory /></Lazy>} />
        <Route path="inventory/:address" element={<Lazy><DeviceView /></Lazy>} />
        <Route path="groups" element={<Lazy><Groups /></Lazy>} />
        <Route path="agents" element={<Lazy><Agents /></Lazy>} />
        <Route path="settings/*" element={<Lazy><Settings /></Lazy>} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
