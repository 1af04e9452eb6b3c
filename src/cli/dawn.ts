/**
 * WebGPU in Node through Dawn (the `webgpu` package). Without a GPU, Chromium's SwiftShader Vulkan
 * driver serves as the adapter: scripts/gpu-env.sh points VK_ICD_FILENAMES at it.
 */
import { create, globals } from 'webgpu';
import { existsSync, mkdirSync } from 'node:fs';
import { Runtime } from '../engine/runtime.ts';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
let installed = false;
// The Dawn instance must outlive every device made from it: if it is garbage-collected, its devices
// crash at random (segfaults, futex errors) in the middle of work. Keep it for the process's life.
let instance: GPU | null = null;

export function nodeGpu(): GPU {
  if (!installed) {
    // No GPU device node → use SwiftShader (Mesa's lavapipe, which Debian may also install, gives Dawn no adapter).
    const hasGpu = existsSync('/dev/dri') || existsSync('/dev/nvidia0');
    if (!process.env.VK_ICD_FILENAMES && !hasGpu && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    if (!process.env.XDG_RUNTIME_DIR) {
      const dir = `/tmp/retort-xdg-${process.getuid?.() ?? 0}`;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      process.env.XDG_RUNTIME_DIR = dir;
    }
    Object.assign(globalThis, globals);
    installed = true;
  }
  return (instance ??= create([]) as GPU);
}

export async function nodeRuntime(): Promise<Runtime> {
  try {
    return await Runtime.create(nodeGpu());
  } catch (e) {
    throw new Error(
      `no WebGPU adapter in Node (${(e as Error).message}). Install Debian's libvulkan1 and chromium (its SwiftShader ` +
        `driver), or set VK_ICD_FILENAMES to your GPU's Vulkan driver.`,
    );
  }
}
