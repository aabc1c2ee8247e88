#!/usr/bin/env bash
# The web UI's tasks (web/): Node 20 and npm, packages pinned by web/package-lock.json.
#
# Usage: scripts/web.sh deps|build|typecheck|test|e2e
#   deps       npm ci, only when package-lock.json changed since the last install
#   build      deps + the production build into web/dist (embedded by crates/opsconductor-web)
#   typecheck  deps + tsc
#   test       deps + Vitest unit tests; ends with "vitest: N passed, N failed"
#   e2e        build + Playwright in Debian's Chromium against standalone mode started as
#              the README starts it (scripts/run.sh); ends with "playwright: N passed, N failed"
set -euo pipefail

REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
WEB="${REPO_ROOT}/web"
cd "$WEB"

need_node() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "web: node and npm not found; install Node.js 20 (the web UI needs it to build)" >&2
    exit 1
  fi
  local major
  major="$(node -p 'process.versions.node.split(".")[0]')"
  if (( major < 20 )); then
    echo "web: Node.js ${major} is too old; the web UI needs Node.js 20 or newer" >&2
    exit 1
  fi
}

deps() {
  need_node
  # npm ci wipes node_modules: skip it while the lock file is the one last installed.
  local stamp=node_modules/.opsconductor-lock.sha256
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return
  fi
  echo "web: installing packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
}

# Prints "<tool>: N passed, N failed" from a JSON report and fails when anything failed.
summary() {
  local tool="$1" report="$2"
  node -e '
    const [tool, file] = process.argv.slice(1);
    const fs = require("fs");
    if (!fs.existsSync(file)) { console.log(`${tool}: 0 passed, 1 failed (no report written)`); process.exit(1); }
    const r = JSON.parse(fs.readFileSync(file, "utf8"));
    let passed, failed;
    if (tool === "vitest") { passed = r.numPassedTests; failed = r.numFailedTests + (r.numRuntimeErrorTestSuites || 0); if (!r.success && failed === 0) failed = 1; }
    else {
      passed = r.stats.expected; failed = r.stats.unexpected + (r.errors ? r.errors.length : 0);
      // CI keeps only the end of the log: repeat the first lines of each failure here.
      const walk = (suite) => {
        for (const spec of suite.specs || []) for (const t of spec.tests) for (const res of t.results)
          if (res.status !== "passed" && res.status !== "skipped" && res.error)
            console.log(`FAILED ${spec.file}:${spec.line} ${spec.title}\n  ${(res.error.message || "").replace(/\x1b\[[0-9;]*m/g, "").split("\n").slice(0, 8).join("\n  ")}`);
        for (const child of suite.suites || []) walk(child);
      };
      r.suites.forEach(walk);
    }
    console.log(`${tool}: ${passed} passed, ${failed} failed`);
    process.exit(failed === 0 && passed > 0 ? 0 : 1);
  ' "$tool" "$report"
}

case "${1:-}" in
  deps) deps ;;
  build)
    deps
    npx vite build --logLevel warn
    ;;
  typecheck)
    deps
    npx tsc --noEmit -p tsconfig.json
    ;;
  test)
    deps
    mkdir -p test-results
    rm -f test-results/vitest.json
    npx vitest run --reporter=default --reporter=json --outputFile.json=test-results/vitest.json || true
    summary vitest test-results/vitest.json
    ;;
  e2e)
    deps
    npx vite build --logLevel warn
    if [[ ! -x /usr/bin/chromium ]]; then
      echo "web: /usr/bin/chromium missing; run scripts/install-deps.sh (Debian's chromium)" >&2
      exit 1
    fi
    mkdir -p test-results
    rm -f test-results/playwright.json
    PLAYWRIGHT_JSON_OUTPUT_NAME=test-results/playwright.json \
      npx playwright test --reporter=list,json || true
    summary playwright test-results/playwright.json
    ;;
  *)
    echo "usage: $0 deps|build|typecheck|test|e2e" >&2
    exit 2
    ;;
esac
