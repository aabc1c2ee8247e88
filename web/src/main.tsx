import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, RouterProvider } from 'react-router';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { Toaster } from 'sonner';
import './i18n';
import './index.css';
import App from './App';
import { AuthProvider } from './auth/AuthProvider';
import { ThemeProvider, useTheme } from './lib/theme';
import { ApiError } from './api/client';

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 5_000,
      // Client errors (bad id, no permission) do not get better by asking again.
      retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
      refetchOnWindowFocus: false,
    },
  },
});

/** Toasts in the chosen theme (neutral colours: every toast has an icon and words). */
function ThemedToaster() {
  const { choice } = useTheme();
  return <Toaster theme={choice} closeButton position="bottom-right" />;
}

// A data router (not <BrowserRouter>): the Job Builder's unsaved-changes guard needs
// `useBlocker`, which only data routers support. One splat route hands over to <App>'s
// <Routes>.
const router = createBrowserRouter([
  {
    path: '*',
    element: (
      <AuthProvider>
        <App />
        <ThemedToaster />
      </AuthProvider>
    ),
  },
]);

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <ThemeProvider>
        <RouterProvider router={router} />
      </ThemeProvider>
    </QueryClientProvider>
  </StrictMode>,
);
