/**
 * Run a Python snippet with the interpreter that has torch (RETORT_PYTHON, else /usr/bin/python3,
 * as DESIGN.md says), hand it `input` as JSON on stdin (`inp` in the snippet) and return what the
 * snippet passes to `out(...)` as JSON.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

export const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';

const prelude = `
import json, sys
inp = json.loads(sys.stdin.read())
def out(value):
    sys.stdout.write("\\n@@RESULT@@" + json.dumps(value))
`;

export function runPython<T = unknown>(snippet: string, input: unknown = null, timeoutMs = 120_000): T {
  const res = spawnSync(PYTHON, ['-c', prelude + dedent(snippet)], {
    input: JSON.stringify(input),
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (res.error) throw new Error(`${PYTHON}: ${res.error.message}`);
  if (res.status !== 0) throw new Error(`${PYTHON} exited with ${res.status}:\n${res.stderr}`);
  const at = res.stdout.lastIndexOf('@@RESULT@@');
  if (at < 0) throw new Error(`${PYTHON}: the snippet never called out(...); stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  return JSON.parse(res.stdout.slice(at + '@@RESULT@@'.length)) as T;
}

function dedent(code: string): string {
  const lines = code.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** Runs a whole Python script with the torch worker package importable: JSON in on stdin, JSON out on stdout. */
export function torchJson<T>(script: string, input: unknown): T {
  const res = spawnSync(PYTHON, ['-c', script], {
    input: JSON.stringify(input),
    env: { ...process.env, PYTHONPATH: resolve('src/runner/torch') },
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
  });
  if (res.status !== 0) throw new Error(`${PYTHON} exited with ${res.status}:\n${res.stderr}`);
  return JSON.parse(res.stdout) as T;
}
