import { proxy, transfer, wrap, type Remote } from 'comlink';
import type { EngineApi } from '../../../workers/engine.worker.ts';
import type {
  CheckpointInfo, DistillSession, GenerateRequest, JobAction, JobId, LoadRequest, ModelInfo, ProbeRequest,
  ModelRole, ProbeResult, SessionInfo, TokenEvent,
} from '../../core/session.ts';
import type { JobSpec } from '../../core/schema/index.ts';
import type { TelemetryEvent } from '../../core/telemetry.ts';

/** Turns a callback-driven remote stream into an async iterable. */
function stream<T>(run: (push: (item: T) => void) => Promise<void>): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const queue: T[] = [];
      let done = false;
      let failure: unknown = null;
      let wake: (() => void) | null = null;
      run((item) => {
        queue.push(item);
        wake?.();
      }).then(
        () => { done = true; wake?.(); },
        (e) => { failure = e; done = true; wake?.(); },
      );
      return {
        async next(): Promise<IteratorResult<T>> {
          while (queue.length === 0 && !done) await new Promise<void>((r) => (wake = r));
          wake = null;
          if (queue.length) return { value: queue.shift()!, done: false };
          if (failure) throw failure;
          return { value: undefined, done: true };
        },
      };
    },
  };
}

/** DistillSession over the engine worker (this browser's GPU). */
export class LocalSession implements DistillSession {
  readonly worker: Worker;
  readonly api: Remote<EngineApi>;
  private uploads = 0;

  constructor(base = new URL('./', document.baseURI).pathname) {
    this.worker = new Worker(new URL('../../../workers/engine.worker.ts', import.meta.url), { type: 'module' });
    this.api = wrap<EngineApi>(this.worker);
    void this.api.setBase(base);
  }

  info(): Promise<SessionInfo> { return this.api.info(); }
  load(req: LoadRequest): Promise<ModelInfo[]> { return this.api.load(req); }
  probe(req: ProbeRequest): Promise<ProbeResult> { return this.api.probe(req); }
  generate(req: GenerateRequest): AsyncIterable<TokenEvent> {
    return stream((push) => this.api.generate(req, proxy(push)));
  }
  start(spec: JobSpec): Promise<JobId> { return this.api.start(spec); }
  events(job: JobId, since = -1): AsyncIterable<TelemetryEvent> {
    return stream((push) => this.api.events(job, since, proxy(push)));
  }
  control(job: JobId, action: JobAction): Promise<void> { return this.api.control(job, action); }

  /**
   * Loads a model folder picked or dropped in the page (Files with `webkitRelativePath`, or names
   * relative to the folder) as the teacher or student: the folder is the one holding config.json
   * nearest the top; its files are copied into the worker, which reads them like any model folder.
   */
  async loadFiles(role: ModelRole, files: File[]): Promise<ModelInfo[]> {
    const rel = (f: File) => f.webkitRelativePath || f.name;
    const configs = files.map(rel).filter((p) => p === 'config.json' || p.endsWith('/config.json'));
    if (!configs.length) throw new Error(`the ${files.length} files given hold no config.json: pick the model's folder`);
    const root = configs.sort((a, b) => a.split('/').length - b.split('/').length)[0].slice(0, -'config.json'.length);
    const inside = files.filter((f) => rel(f).startsWith(root));
    const entries = await Promise.all(
      inside.map(async (f): Promise<[string, Uint8Array]> => [rel(f).slice(root.length), new Uint8Array(await f.arrayBuffer())]),
    );
    const name = root.replace(/\/$/, '').split('/').pop() || role; // the model's display name
    const dir = await this.api.addFiles(`${++this.uploads}/${name}`, transfer(entries, entries.map(([, b]) => b.buffer)));
    return this.load({ [role]: { path: dir } });
  }
  checkpoints(job: JobId): Promise<CheckpointInfo[]> { return this.api.checkpoints(job); }

  dispose(): void {
    this.worker.terminate();
  }
}
