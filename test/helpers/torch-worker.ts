import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';
const TORCH_PKG = resolve('src/runner/torch');

/** Runs `python3 -m retort_torch.<module> args…` (the torch worker package) and returns stdout. */
export function torchModule(module: string, args: string[]): string {
  return execFileSync(PYTHON, ['-m', `retort_torch.${module}`, ...args], {
    env: { ...process.env, PYTHONPATH: TORCH_PKG },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 * 2 ** 20,
  });
}

export function tempDir(prefix = 'retort-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A random tiny HF checkpoint written by the torch worker's make_tiny. */
export function makeTiny(arch: 'qwen2' | 'qwen3' | 'llama', seed: number, extra: string[] = []): string {
  const dir = join(tempDir(`tiny-${arch}-`), 'model');
  torchModule('make_tiny', ['--arch', arch, '--out', dir, '--seed', String(seed), ...extra]);
  return dir;
}
