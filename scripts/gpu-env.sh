# Sourced by the test scripts: points Dawn (Node) at Chromium's SwiftShader Vulkan driver on a machine
# without a GPU device (Mesa's lavapipe, which Debian may install alongside, gives Dawn no adapter).
if [ -z "${VK_ICD_FILENAMES:-}" ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ] && [ ! -e /dev/dri ] && [ ! -e /dev/nvidia0 ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/retort-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
export RETORT_PYTHON="${RETORT_PYTHON:-/usr/bin/python3}"
