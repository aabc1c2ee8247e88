import { defineConfig } from 'vitest/config';
import react from '@vitejs/plugin-react';
import tailwindcss from '@tailwindcss/vite';

// The controller serves `dist/` (embedded in the binary); `npm run dev` proxies the API to
// a controller on OPSCONDUCTOR_URL (default the standalone address).
const controller = process.env.OPSCONDUCTOR_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react(), tailwindcss()],
  // Vite 8 changed default imports of CommonJS-only packages; keep the old interop so a
  // production build cannot come out as a blank page.
  legacy: { inconsistentCjsInterop: true },
  build: {
    outDir: 'dist',
    sourcemap: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      '/api': { target: controller, ws: true },
      '/healthz': controller,
    },
  },
  test: {
    environment: 'jsdom',
    setupFiles: ['src/test/setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    css: false,
    // First tests of a file pay for importing its modules: seconds on a busy 2-core machine.
    testTimeout: 20_000,
  },
});
