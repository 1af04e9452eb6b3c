/** The code version written into /v1/info (and by the worker into run manifests): package version + git describe. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

let cached: string | null = null;

export function codeVersion(): string {
  if (cached) return cached;
  const root = fileURLToPath(new URL('../..', import.meta.url));
  let version = 'retort';
  try {
    version = `retort ${(JSON.parse(readFileSync(`${root}/package.json`, 'utf8')) as { version: string }).version}`;
  } catch {
    // not in a checkout
  }
  try {
    const git = execFileSync('git', ['-C', root, 'describe', '--always', '--dirty', '--tags'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
    if (git) version += ` (git ${git})`;
  } catch {
    // no git
  }
  cached = version;
  return version;
}
