#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing:
#   chromium        real browser for the e2e tests; its SwiftShader Vulkan driver also serves Dawn in Node
#   libvulkan1      the Vulkan loader Dawn (`webgpu` package) opens
#   python3-torch   the torch worker and the PyTorch reference the engine is tested against
#   python3-pytest  the torch worker's tests
# Nothing else is downloaded: no browser builds, no weights.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
[ -f /usr/lib/chromium/vk_swiftshader_icd.json ] || missing+=(chromium)
{ ls /usr/lib/*/libvulkan.so.1 || ls /usr/lib/libvulkan.so.1; } >/dev/null 2>&1 || missing+=(libvulkan1)
/usr/bin/python3 -c 'import torch' 2>/dev/null || missing+=(python3-torch)
/usr/bin/python3 -c 'import pytest' 2>/dev/null || missing+=(python3-pytest)

if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
echo "retort: installing system packages: ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then SUDO=sudo; else
    echo "retort: need root to install ${missing[*]} (Debian/Ubuntu): sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
else SUDO=; fi
if ! command -v apt-get >/dev/null; then
  echo "retort: no apt-get here; install these yourself: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
