#!/usr/bin/env bash
# `npm test`: the one test command (CI runs it through .ci/run).
#   1. system packages (installed when missing)   2. unit + engine-on-Dawn tests (vitest)
#   3. torch worker tests (pytest)                 4. production build + e2e in Chromium (Playwright)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh
source scripts/gpu-env.sh
[ -d node_modules ] || npm install

# Every stage runs even when an earlier one fails, so one run shows everything that is wrong.
failed=()

echo "== vitest: core, engine on Dawn, runner"
npx vitest run || failed+=(vitest)

echo "== pytest: torch worker"
"$RETORT_PYTHON" -m pytest -q test/torch || failed+=(pytest)

echo "== e2e: production build + Playwright + Chromium (WebGPU on SwiftShader)"
if npx vite build --logLevel warn; then
  npx vitest run --config test/e2e/vitest.e2e.config.ts || failed+=(e2e)
else
  failed+=(build)
fi

if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
