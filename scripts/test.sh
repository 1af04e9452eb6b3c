#!/usr/bin/env bash
# `npm test`: the one test command (CI runs it through .ci/run).
#   1. system packages (installed when missing)   2. unit + engine-on-Dawn tests (vitest)
#   3. torch worker tests (pytest)                 4. production build + e2e in Chromium (Playwright)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-system-deps.sh
source scripts/gpu-env.sh
[ -d node_modules ] || npm install

echo "== vitest: core, engine on Dawn, runner"
npx vitest run

echo "== pytest: torch worker"
"$RETORT_PYTHON" -m pytest -q test/torch

if [ -d test/e2e ] && ls test/e2e/*.e2e.ts >/dev/null 2>&1; then
  echo "== e2e: Playwright + Chromium (WebGPU on SwiftShader)"
  npx vite build --logLevel warn
  npx vitest run --config test/e2e/vitest.e2e.config.ts
fi
