/**
 * The long-lived Python serve worker (protocol.ts, "Serve worker"): started on first use, requests
 * written as lines on stdin and matched to response lines by id, several in flight at once. If it
 * dies, every pending request fails with its stderr tail and the next request starts a new one
 * (whose models are loaded again on demand).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { delimiter } from 'node:path';
import { createInterface } from 'node:readline';
import type { ModelInfo } from '../core/session.ts';
import type { WeightDtype } from '../core/schema/model-ref.ts';
import { type ServeRequest, type ServeResponse, type ServeToken, parseServeLine } from './protocol.ts';
import { STDERR_TAIL_BYTES } from './worker-process.ts';

export interface ServeConfig {
  python: string;
  pythonPath: string[];
  module: string;
  cwd: string;
}

/** The serve worker failed a request, or died (HTTP 502 unless the message says the request was bad). */
export class ServeError extends Error {
  override name = 'ServeError';
}

type Pending = (r: ServeResponse) => void;
type Request = ServeRequest extends infer R ? (R extends ServeRequest ? Omit<R, 'id'> : never) : never;

export interface LoadedModel {
  name: string;
  path: string;
  dtype?: WeightDtype;
  adapter?: string;
  info?: ModelInfo;
}

export class ServeWorker {
  private child: ChildProcess | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private stderr = '';
  /** Models loaded into the current process, by name. */
  private readonly loaded = new Map<string, LoadedModel>();

  constructor(
    private readonly cfg: ServeConfig,
    private readonly log: (message: string) => void = () => {},
  ) {}

  get models(): LoadedModel[] {
    return [...this.loaded.values()];
  }

  get started(): boolean {
    return this.child !== null;
  }

  /** One request, one answer (`ok: true`), or a ServeError with the worker's message. */
  async call(req: Request): Promise<Extract<ServeResponse, { ok: true }>> {
    let id = 0;
    const r = await new Promise<ServeResponse>((resolve) => (id = this.send(req, resolve)));
    this.pending.delete(id);
    if ('ok' in r && r.ok) return r;
    throw new ServeError('error' in r ? r.error : 'unexpected response');
  }

  /** Load `path` under `name` unless the same model is already loaded. */
  async ensureLoaded(model: Omit<LoadedModel, 'info'>): Promise<ModelInfo> {
    const have = this.loaded.get(model.name);
    if (have?.info && have.path === model.path && have.dtype === model.dtype && have.adapter === model.adapter) return have.info;
    const r = await this.call({ op: 'load', name: model.name, path: model.path, ...(model.dtype ? { dtype: model.dtype } : {}), ...(model.adapter ? { adapter: model.adapter } : {}) });
    if (!r.model) throw new ServeError(`load ${model.name}: the serve worker answered without a model`);
    this.loaded.set(model.name, { ...model, info: r.model });
    return r.model;
  }

  /** A streamed generation: tokens, then the final line. Breaking out of the loop cancels it. */
  async *generate(req: Extract<Request, { op: 'generate' }>): AsyncGenerator<{ token: ServeToken } | Extract<ServeResponse, { done: true }>> {
    const queue: ServeResponse[] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    const id = this.send(req, (r) => {
      queue.push(r);
      wake?.();
    });
    try {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((r) => (wake = r));
        wake = null;
        const r = queue.shift()!;
        if ('ok' in r) {
          finished = true;
          if (!r.ok) throw new ServeError(r.error);
          return;
        }
        if (r.done) {
          finished = true;
          yield r;
          return;
        }
        yield { token: r.token };
      }
    } finally {
      this.pending.delete(id);
      if (!finished && this.child) this.send({ op: 'cancel', target: id }, () => {});
    }
  }

  close(): void {
    const child = this.child;
    this.child = null;
    child?.stdin?.end();
    child?.kill('SIGTERM');
  }

  private send(req: Request, handler?: Pending): number {
    const child = this.child ?? this.spawn();
    const id = this.nextId++;
    if (handler) this.pending.set(id, handler);
    child.stdin!.write(JSON.stringify({ ...req, id }) + '\n');
    return id;
  }

  private spawn(): ChildProcess {
    const child = spawn(this.cfg.python, ['-m', this.cfg.module], {
      cwd: this.cfg.cwd,
      env: { ...process.env, PYTHONPATH: [...this.cfg.pythonPath, process.env.PYTHONPATH].filter(Boolean).join(delimiter), PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.stderr = '';
    this.loaded.clear();
    child.stdin!.on('error', () => {});
    child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-STDERR_TAIL_BYTES);
    });
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      if (!line.trim()) return;
      const r = parseServeLine(line);
      if (!r) return this.log(`serve worker stdout: not a response: ${line.slice(0, 300)}`);
      this.pending.get(r.id)?.(r);
    });
    const gone = (why: string) => {
      if (this.child === child) this.child = null;
      this.loaded.clear();
      const error = `serve worker ${why}${this.stderr ? `:\n${this.stderr.trimEnd().slice(-4000)}` : ''}`;
      for (const [id, handler] of [...this.pending]) {
        this.pending.delete(id);
        handler({ id, ok: false, error });
      }
    };
    child.on('close', (code, signal) => gone(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.on('error', (e) => gone(`could not start (${this.cfg.python}: ${e.message})`));
    return child;
  }
}
