/**
 * Runner tests: a temporary workspace with tokenizer-bearing model folders and a dataset, a runner on
 * an ephemeral loopback port driving the fake worker (fixtures/fake_worker.py, a real Python process),
 * and small HTTP / SSE helpers that use nothing of the runner's own client.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { JobSpecInput } from '../../src/core/schema/job-spec.ts';
import type { TelemetryEvent } from '../../src/core/telemetry.ts';
import { type Runner, type RunnerOptions, startRunner } from '../../src/runner/runner.ts';
import { PYTHON } from '../helpers/python.ts';

export const FIXTURES = resolve('test/runner/fixtures');
export const TOKEN = 'test-token-0123456789';

/**
 * A byte-level BPE tokenizer without merges (256 byte tokens + <|endoftext|> <|im_start|> <|im_end|>,
 * eos = <|im_end|> = 258, a ChatML template): built in milliseconds, unlike Qwen's 151k vocabulary.
 */
export const TINY_TOKENIZER_DIR = join(FIXTURES, 'tiny-tokenizer');
export const TINY_VOCAB = 259;

export function placeTokenizer(dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const name of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(TINY_TOKENIZER_DIR, name), join(dir, name));
  if (!existsSync(join(dir, 'config.json'))) writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'qwen3', vocab_size: TINY_VOCAB }));
}

/** A workspace with models/{teacher,student} and data/train.jsonl (prompt-completion, 4 lines). */
export function makeWorkspace(): string {
  const ws = mkdtempSync(join(tmpdir(), 'retort-runner-'));
  placeTokenizer(join(ws, 'models', 'teacher'));
  placeTokenizer(join(ws, 'models', 'student'));
  mkdirSync(join(ws, 'data'));
  const lines = [1, 2, 3, 4].map((i) => JSON.stringify({ prompt: `What is ${i} + ${i}?`, completion: `${i} + ${i} = ${2 * i}. The answer is \\boxed{${2 * i}}.` }));
  writeFileSync(join(ws, 'data', 'train.jsonl'), lines.join('\n') + '\n');
  return ws;
}

/** A distill spec for the fake worker; `name` carries its behaviour knobs (see fake_worker.py). */
export function fakeSpec(name: string, steps: number, everySteps: number): JobSpecInput {
  return {
    kind: 'distill',
    teacher: { path: 'models/teacher' },
    student: { path: 'models/student' },
    stages: [{ name, data: { path: 'data/train.jsonl', maxSeqLen: 64 }, loss: { teacherTargets: 'none', divergence: 'none', alpha: 0 }, stop: { steps } }],
    checkpoint: { everySteps, keepLast: 100 },
  };
}

export function startFakeRunner(workspace: string, over: Partial<RunnerOptions> = {}): Promise<Runner> {
  return startRunner({
    workspace,
    port: 0,
    token: TOKEN,
    gpus: [],
    stopGraceMs: 5000,
    executor: { python: PYTHON, pythonPath: [FIXTURES], workerModule: 'fake_worker' },
    serveModule: 'fake_serve',
    ...over,
  });
}

/** fetch with the bearer token and JSON body; returns status and parsed JSON (or text). */
export async function call(runner: { url: string }, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(runner.url + path, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, json: json as any, text };
}

export interface RawSse {
  id: string;
  event: string;
  data: string;
}

/**
 * Read an SSE response with a tiny independent parser (not src/runner/sse-parse.ts) until `stop`
 * says enough, the stream ends, or `timeoutMs` passes.
 */
export async function readSse(
  url: string,
  opts: { headers?: Record<string, string>; stop?: (m: RawSse, all: RawSse[]) => boolean; timeoutMs?: number; method?: string; body?: string } = {},
): Promise<{ status: number; messages: RawSse[]; ended: boolean }> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), opts.timeoutMs ?? 20_000);
  const messages: RawSse[] = [];
  let ended = false;
  try {
    const res = await fetch(url, {
      method: opts.method ?? 'GET',
      headers: { authorization: `Bearer ${TOKEN}`, ...(opts.body ? { 'content-type': 'application/json' } : {}), ...opts.headers },
      body: opts.body,
      signal: controller.signal,
    });
    if (!res.ok) return { status: res.status, messages, ended: true };
    const decoder = new TextDecoder();
    let buf = '';
    const reader = res.body!.getReader();
    outer: for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      buf += decoder.decode(value, { stream: true });
      let cut: number;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        const m: RawSse = { id: '', event: 'message', data: '' };
        let hasData = false;
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const i = line.indexOf(': ');
          const [k, v] = i < 0 ? [line, ''] : [line.slice(0, i), line.slice(i + 2)];
          if (k === 'id') m.id = v;
          else if (k === 'event') m.event = v;
          else if (k === 'data') {
            m.data += (hasData ? '\n' : '') + v;
            hasData = true;
          }
        }
        if (!hasData) continue;
        messages.push(m);
        if (opts.stop?.(m, messages)) {
          await reader.cancel();
          break outer;
        }
      }
    }
    return { status: res.status, messages, ended };
  } catch (e) {
    if (controller.signal.aborted) return { status: 200, messages, ended: false };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

export const events = (messages: RawSse[]): TelemetryEvent[] => messages.map((m) => JSON.parse(m.data) as TelemetryEvent);

export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Wait until the job reaches one of `states`; returns the job record. */
export function waitForState(runner: { url: string }, id: string, states: string[], timeoutMs = 20_000) {
  return waitFor(
    `job ${id} to be ${states.join(' or ')}`,
    async () => {
      const { json } = await call(runner, 'GET', `/v1/jobs/${id}`);
      return states.includes(json.state) ? json : null;
    },
    timeoutMs,
  );
}

const runnerProcesses: ChildProcess[] = [];

/**
 * A runner in its own process (fixtures/runner-process.ts) on `workspace`, driving the fake worker or,
 * with `torch`, the real one; resolves once it prints its URL. Tests kill it with signals.
 */
export async function startRunnerProcess(workspace: string, opts: { torch?: boolean } = {}): Promise<{ child: ChildProcess; url: string }> {
  const args = ['bin/run-ts.mjs', join(FIXTURES, 'runner-process.ts'), workspace, ...(opts.torch ? ['--torch'] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  runnerProcesses.push(child);
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c) => {
      out += c;
      const m = /listening (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`runner process exited ${code}: ${err}`)));
  });
  return { child, url };
}

/** SIGKILL every runner process a test left running (for afterAll). */
export function stopRunnerProcesses(): void {
  for (const c of runnerProcesses) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Kill a runner process with `signal` and wait until it has exited. */
export async function killRunnerProcess(r: { child: ChildProcess }, signal: NodeJS.Signals): Promise<void> {
  if (r.child.exitCode !== null || r.child.signalCode !== null) return;
  const exited = new Promise((resolve) => r.child.once('exit', resolve));
  r.child.kill(signal);
  await exited;
}

/** Running, not a zombie (this container's PID 1 may never reap orphans). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
