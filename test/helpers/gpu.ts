import { nodeRuntime } from '../../src/cli/dawn.ts';
import type { Runtime } from '../../src/engine/runtime.ts';

let shared: Promise<Runtime> | null = null;

/** One runtime per test file (vitest isolates files): device creation on SwiftShader takes a while. */
export function gpu(): Promise<Runtime> {
  return (shared ??= nodeRuntime());
}
