/**
 * RunnerSession: DistillSession over the runner's HTTP API (api.ts), for the browser and Node.
 * Streams are read from `fetch` bodies (EventSource cannot send the bearer token). All `events()`
 * iterators of one session share ONE multiplexed stream (/v1/events), since browsers allow only six
 * HTTP/1.1 connections per origin; it reconnects with each job's last seq, so nothing is lost or repeated.
 */
import type { JobSpec, JobSpecInput } from '../core/schema/job-spec.ts';
import type {
  CheckpointInfo,
  DistillSession,
  GenerateRequest,
  JobAction,
  JobId,
  LoadRequest,
  ModelInfo,
  ProbeRequest,
  ProbeResult,
  SessionInfo,
  TokenEvent,
} from '../core/session.ts';
import { isTerminalState, type TelemetryEvent } from '../core/telemetry.ts';
import { type CheckpointFiles, type ErrorBody, type JobRecord, type Parallel, SSE_EVENT, type UploadResult } from './api.ts';
import { parseSse } from './sse-parse.ts';

/** A non-2xx answer, with the runner's message (which names the field or path at fault). */
export class RunnerError extends Error {
  override name = 'RunnerError';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`runner: ${status} ${body.error}: ${body.message}`);
  }
}

export interface RunnerSessionOptions {
  url: string; // e.g. http://127.0.0.1:7860
  token: string;
  fetch?: typeof fetch;
  /** Wait before reconnecting a dropped event stream (ms). */
  reconnectMs?: number;
}

export class RunnerSession implements DistillSession {
  private readonly base: string;
  private readonly fetchFn: typeof fetch;
  private readonly mux: EventMux;

  constructor(private readonly opts: RunnerSessionOptions) {
    this.base = opts.url.replace(/\/+$/, '');
    this.fetchFn = opts.fetch ?? ((input, init) => fetch(input, init));
    this.mux = new EventMux((query, signal) => this.request(`/v1/events?${query}`, { signal }), opts.reconnectMs ?? 500);
  }

  info(): Promise<SessionInfo> {
    return this.json('GET', '/v1/info');
  }

  load(req: LoadRequest): Promise<ModelInfo[]> {
    return this.json('POST', '/v1/load', req);
  }

  probe(req: ProbeRequest): Promise<ProbeResult> {
    return this.json('POST', '/v1/probe', req);
  }

  async *generate(req: GenerateRequest): AsyncGenerator<TokenEvent> {
    const controller = new AbortController();
    const res = await this.request('/v1/generate', { method: 'POST', body: JSON.stringify(req), signal: controller.signal });
    try {
      for await (const m of parseSse(res.body!, controller.signal)) {
        if (m.event === SSE_EVENT.error) {
          const body = JSON.parse(m.data) as ErrorBody;
          throw new RunnerError(502, body);
        }
        if (m.event !== SSE_EVENT.token) continue;
        const e = JSON.parse(m.data) as TokenEvent;
        yield e;
        if (e.done) return;
      }
    } finally {
      controller.abort(); // stops generation on the runner when the caller stops early
    }
  }

  async start(spec: JobSpec | JobSpecInput, gpus?: number[]): Promise<JobId> {
    return (await this.submit(spec, { gpus })).id;
  }

  /** Like start, returning the whole job record; `placement` picks GPUs and how they are used (JobRequestSchema). */
  submit(spec: JobSpec | JobSpecInput, placement: { gpus?: number[]; parallel?: Parallel } = {}): Promise<JobRecord> {
    const { gpus, parallel } = placement;
    return this.json('POST', '/v1/jobs', gpus || parallel ? { spec, ...(gpus ? { gpus } : {}), ...(parallel ? { parallel } : {}) } : spec);
  }

  /** Events of `job` with seq > since (default: all), ending after the job's final state. */
  async *events(job: JobId, since = -1): AsyncGenerator<TelemetryEvent> {
    const record = await this.job(job);
    // Finished and already seen to the end: nothing will ever arrive on the stream.
    if (isTerminalState(record.state) && since >= record.events - 1) return;
    yield* this.mux.subscribe(job, since);
  }

  async control(job: JobId, action: JobAction): Promise<void> {
    await this.json('POST', `/v1/jobs/${encodeURIComponent(job)}/control`, { action });
  }

  checkpoints(job: JobId): Promise<CheckpointInfo[]> {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(job)}/checkpoints`);
  }

  // ── beyond DistillSession ─────────────────────────────────────────────────────────────────

  jobs(): Promise<JobRecord[]> {
    return this.json('GET', '/v1/jobs');
  }

  job(id: JobId): Promise<JobRecord> {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  cancel(id: JobId): Promise<JobRecord> {
    return this.json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`);
  }

  checkpointFiles(job: JobId, step: number): Promise<CheckpointFiles> {
    return this.json('GET', `/v1/jobs/${encodeURIComponent(job)}/checkpoints/${step}`);
  }

  async downloadCheckpointFile(job: JobId, step: number, name: string): Promise<Uint8Array> {
    const res = await this.request(`/v1/jobs/${encodeURIComponent(job)}/checkpoints/${step}/files/${encodeURIComponent(name)}`);
    return new Uint8Array(await res.arrayBuffer());
  }

  /** Put a file into the runner's workspace (a dataset, or a file of a checkpoint trained in the tab). */
  upload(path: string, bytes: Uint8Array | Blob | string): Promise<UploadResult> {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    return this.json('PUT', `/v1/files/${encoded}`, undefined, { body: bytes as BodyInit, headers: { 'content-type': 'application/octet-stream' } });
  }

  /** Close the shared event stream; open iterators end. */
  close(): void {
    this.mux.close();
  }

  // ── plumbing ──────────────────────────────────────────────────────────────────────────────

  private async json<T>(method: string, path: string, body?: unknown, raw?: { body: BodyInit; headers: Record<string, string> }): Promise<T> {
    const init: RequestInit = raw ? { method, body: raw.body, headers: raw.headers } : { method, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) };
    const res = await this.request(path, init);
    return (await res.json()) as T;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.opts.token}`);
    if (init.body !== undefined && !headers.has('content-type')) headers.set('content-type', 'application/json');
    const res = await this.fetchFn(this.base + path, { ...init, headers });
    if (!res.ok) {
      const text = await res.text();
      let body: ErrorBody;
      try {
        body = JSON.parse(text) as ErrorBody;
      } catch {
        body = { error: 'http', message: text || res.statusText };
      }
      throw new RunnerError(res.status, body);
    }
    return res;
  }
}

interface Subscriber {
  job: string;
  last: number;
  queue: TelemetryEvent[];
  wake: (() => void) | null;
  ended: boolean;
  error: unknown;
}

/** One /v1/events connection feeding every subscriber; reopened when the set of jobs changes or the connection drops. */
class EventMux {
  private readonly subs = new Set<Subscriber>();
  private controller: AbortController | null = null;
  private scheduled = false;
  private closed = false;

  constructor(
    private readonly open: (query: string, signal: AbortSignal) => Promise<Response>,
    private readonly reconnectMs: number,
  ) {}

  async *subscribe(job: string, since: number): AsyncGenerator<TelemetryEvent> {
    const sub: Subscriber = { job, last: since, queue: [], wake: null, ended: false, error: null };
    this.subs.add(sub);
    this.reconnect(0);
    try {
      for (;;) {
        while (sub.queue.length === 0 && !sub.ended) await new Promise<void>((r) => (sub.wake = r));
        if (sub.queue.length > 0) {
          yield sub.queue.shift()!;
          continue;
        }
        if (sub.error) throw sub.error;
        return;
      }
    } finally {
      this.subs.delete(sub);
      if (this.subs.size === 0) this.controller?.abort();
    }
  }

  close(): void {
    this.closed = true;
    this.controller?.abort();
    for (const s of this.subs) this.end(s);
  }

  private reconnect(delayMs: number): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    setTimeout(() => {
      this.scheduled = false;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    this.controller?.abort();
    if (this.subs.size === 0 || this.closed) return;
    const controller = new AbortController();
    this.controller = controller;
    // Several iterators of one job: resume from the earliest; each drops what it already has.
    const from = new Map<string, number>();
    for (const s of this.subs) from.set(s.job, Math.min(from.get(s.job) ?? Infinity, s.last));
    const query = 'jobs=' + [...from].map(([job, seq]) => `${encodeURIComponent(job)}:${seq}`).join(',');
    try {
      const res = await this.open(query, controller.signal);
      for await (const m of parseSse(res.body!, controller.signal)) {
        if (m.event !== 'message') continue;
        const e = JSON.parse(m.data) as TelemetryEvent;
        for (const s of this.subs) {
          if (s.job !== e.job || e.seq <= s.last || s.ended) continue;
          s.last = e.seq;
          s.queue.push(e);
          if (e.type === 'state' && isTerminalState(e.state)) s.ended = true;
          s.wake?.();
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
      if (e instanceof RunnerError && e.status < 500) {
        for (const s of this.subs) this.end(s, e);
        return;
      }
    }
    if (this.controller === controller && !controller.signal.aborted) this.reconnect(this.reconnectMs);
  }

  private end(s: Subscriber, error: unknown = null): void {
    s.ended = true;
    s.error = error;
    s.wake?.();
  }
}
