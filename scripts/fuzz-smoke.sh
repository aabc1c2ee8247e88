#!/usr/bin/env bash
# Builds every cargo-fuzz target on the stable toolchain (no sanitizer) and runs each for a
# short while, so the fuzz targets keep compiling and catch shallow crashes.
#   FUZZ_SECONDS=60 scripts/fuzz-smoke.sh      # longer runs
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
seconds="${FUZZ_SECONDS:-10}"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "installing cargo-fuzz"
  cargo install cargo-fuzz --locked --quiet
fi
for target in $(cargo fuzz list); do
  echo "== fuzz $target for ${seconds}s"
  mkdir -p "corpus/$target"
  cargo fuzz run -s none "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=65536
done
