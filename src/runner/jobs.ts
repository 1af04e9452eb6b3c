/**
 * The job lifecycle: submit → queued → (data prepared, worker started) running ⇄ paused →
 * finished | stopped | failed. The queue is FIFO per GPU set: a job waits while any GPU it needs is
 * busy or promised to an older waiting job; a CPU-only runner has one queue. A job whose runner
 * went away while it ran is re-queued at the next start and resumes from its newest checkpoint.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RetortError } from '../core/errors.ts';
import type { JobSpec } from '../core/schema/job-spec.ts';
import type { JobAction } from '../core/session.ts';
import { type JobState, type TelemetryEvent, type TelemetryEventBody, isTerminalState } from '../core/telemetry.ts';
import type { JobRecord, Parallel } from './api.ts';
import { latestCheckpoint } from './checkpoints.ts';
import type { EventHub } from './event-hub.ts';
import { type ExecutorConfig, workerLaunch } from './executor.ts';
import { prepareJobData } from './prepare-data.ts';
import { DATA_DIR, SPEC_FILE, parseWorkerLine } from './protocol.ts';
import type { JobStore } from './store.ts';
import { WorkerProcess, type WorkerExit, killOrphan } from './worker-process.ts';
import type { Workspace } from './workspace.ts';

/** A request the job's state does not allow (HTTP 409) or a job that does not exist (404). */
export class JobRequestError extends Error {
  override name = 'JobRequestError';
  constructor(
    readonly statusCode: 404 | 409 | 400,
    message: string,
  ) {
    super(message);
  }
}

export interface JobManagerOptions {
  /** After SIGTERM, how long a worker has to checkpoint and exit before SIGKILL (ms). */
  stopGraceMs?: number;
}

/** A job that holds resources: preparing its data or running a worker. */
interface Active {
  resources: string[];
  proc?: WorkerProcess;
  /** Why the runner is stopping it: the user asked, or the runner is shutting down (then it is re-queued). */
  stopReason?: 'user' | 'shutdown';
  lastError?: string;
  /** Pause asked for while the data was being prepared: sent to the worker as soon as it starts. */
  pauseRequested?: boolean;
  done: Promise<void>;
}

const PREPARED_MARK = '.prepared';

export class JobManager {
  private readonly active = new Map<string, Active>();
  private readonly stopGraceMs: number;
  private closing = false;

  constructor(
    private readonly store: JobStore,
    private readonly hub: EventHub,
    private readonly workspace: Workspace,
    private readonly executor: ExecutorConfig,
    opts: JobManagerOptions = {},
  ) {
    this.stopGraceMs = opts.stopGraceMs ?? 60_000;
  }

  /** Re-queue jobs a previous runner left running (killing its orphaned workers), then start the queue. */
  async recover(): Promise<void> {
    for (const job of [...this.store.jobs('running'), ...this.store.jobs('paused')]) {
      const pid = this.store.pid(job.id);
      if (pid) await killOrphan(pid, this.workspace.jobDir(job.id), Math.min(this.stopGraceMs, 10_000));
      this.store.setPid(job.id, null);
      const ckpt = job.kind === 'distill' ? await latestCheckpoint(this.workspace.jobDir(job.id)) : undefined;
      this.emit(job.id, [
        {
          type: 'log',
          level: 'warn',
          message: `runner restarted while the job was ${job.state}: re-queued; ${ckpt ? `resumes from checkpoint step ${ckpt.step}` : 'starts over (no checkpoint yet)'}`,
        },
      ]);
      this.setState(job.id, 'queued');
    }
    this.pump();
  }

  async submit(spec: JobSpec, gpus: number[] | undefined, parallel: Parallel = 'ddp'): Promise<JobRecord> {
    if (this.closing) throw new JobRequestError(409, 'the runner is shutting down');
    const available = this.executor.gpus.map((g) => g.index);
    if (gpus && available.length === 0) throw new JobRequestError(400, 'gpus: this runner has no CUDA GPUs (jobs run on the CPU); leave gpus out');
    const missing = gpus?.filter((g) => !available.includes(g)) ?? [];
    if (missing.length > 0) throw new JobRequestError(400, `gpus: no GPU ${missing.join(', ')} on this runner (it has ${available.join(', ')})`);
    const count = (gpus ?? available).length;
    if (parallel !== 'ddp' && spec.kind !== 'distill') throw new JobRequestError(400, `parallel: '${parallel}' applies to distill jobs, not ${spec.kind}`);
    if (parallel === 'fsdp' && count < 2) throw new JobRequestError(400, `parallel: 'fsdp' shards the student over 2 or more GPUs (this job has ${count})`);
    if (parallel === 'teacher-gpu' && count !== 2)
      throw new JobRequestError(400, `parallel: 'teacher-gpu' puts the student on one GPU and the teacher on another: give exactly 2 gpus (this job has ${count})`);
    const id = newJobId();
    const dir = this.workspace.jobDir(id);
    await mkdir(dir, { recursive: true });
    const specFile = join(dir, SPEC_FILE);
    await writeFile(specFile + '.tmp', JSON.stringify(spec, null, 2) + '\n');
    await rename(specFile + '.tmp', specFile);
    const { job, events } = this.store.createJob(id, spec, { gpus: gpus ?? available, parallel });
    this.hub.publish(events);
    this.pump();
    return this.store.job(id) ?? job;
  }

  get(id: string): JobRecord {
    const job = this.store.job(id);
    if (!job) throw new JobRequestError(404, `no job ${id}`);
    return job;
  }

  list(): JobRecord[] {
    return this.store.jobs();
  }

  /** Cancel: a queued job is stopped without running; a running or paused one is stopped (it checkpoints). */
  cancel(id: string): JobRecord {
    return this.control(id, 'stop');
  }

  control(id: string, action: JobAction): JobRecord {
    const job = this.get(id);
    if (isTerminalState(job.state)) throw new JobRequestError(409, `job ${id} is already ${job.state}`);
    const active = this.active.get(id);
    if (action === 'stop') {
      if (!active) {
        this.emit(id, [{ type: 'log', level: 'info', message: 'cancelled before it started' }]);
        this.setState(id, 'stopped');
      } else {
        active.stopReason ??= 'user';
        this.emit(id, [{ type: 'log', level: 'info', message: 'stop requested: the worker checkpoints and exits' }]);
        active.proc?.stop(this.stopGraceMs);
      }
      return this.get(id);
    }
    if (!active) throw new JobRequestError(409, `job ${id} is ${job.state}: only a running job can ${action}`);
    if (action === 'pause' && job.state === 'paused') throw new JobRequestError(409, `job ${id} is already paused`);
    if (action === 'resume' && job.state !== 'paused' && !active.pauseRequested) throw new JobRequestError(409, `job ${id} is not paused`);
    if (active.proc) active.proc.control(action);
    else active.pauseRequested = action === 'pause'; // still preparing its data
    return this.get(id);
  }

  /** Stop every worker (they checkpoint) and leave their jobs queued for the next start. */
  async close(): Promise<void> {
    this.closing = true;
    for (const a of this.active.values()) {
      a.stopReason = 'shutdown';
      a.proc?.stop(this.stopGraceMs);
    }
    await Promise.all([...this.active.values()].map((a) => a.done));
  }

  /** Worker processes now running, by job (for tests and /v1/info). */
  workers(): Map<string, number | undefined> {
    return new Map([...this.active].map(([id, a]) => [id, a.proc?.pid]));
  }

  // ── scheduling ──────────────────────────────────────────────────────────────────────────────

  private resourcesOf(job: JobRecord): string[] {
    return this.executor.gpus.length === 0 ? ['cpu'] : job.gpus.map((g) => `gpu${g}`);
  }

  /** Start every queued job whose resources are free and not promised to an older waiting job. */
  private pump(): void {
    if (this.closing) return;
    const busy = new Set([...this.active.values()].flatMap((a) => a.resources));
    for (const job of this.store.jobs('queued')) {
      const res = this.resourcesOf(job);
      const free = res.every((r) => !busy.has(r));
      for (const r of res) busy.add(r);
      if (free) this.start(job, res);
    }
  }

  private start(job: JobRecord, resources: string[]): void {
    let release!: () => void;
    const active: Active = { resources, done: new Promise((r) => (release = r)) };
    this.active.set(job.id, active);
    this.setState(job.id, 'running', { attempt: true });
    this.run(job, active)
      .catch((e: unknown) => this.fail(job.id, e instanceof Error ? e.message : String(e), errorWhere(e)))
      .finally(() => {
        this.active.delete(job.id);
        release();
        this.pump();
      });
  }

  private async run(job: JobRecord, active: Active): Promise<void> {
    const dir = this.workspace.jobDir(job.id);
    const mark = join(dir, DATA_DIR, PREPARED_MARK);
    if (!(await exists(mark))) {
      const { notes } = await prepareJobData(job.spec, dir, this.workspace.root);
      await writeFile(mark, new Date().toISOString() + '\n');
      this.emit(job.id, notes.map((message) => ({ type: 'log', level: 'info', message: `data: ${message}` })));
    }
    if (active.stopReason) return this.afterStopWithoutWorker(job.id, active);
    const resume = job.kind === 'distill' ? await latestCheckpoint(dir) : undefined;
    if (resume) this.emit(job.id, [{ type: 'log', level: 'info', message: `resuming from checkpoint step ${resume.step} (${resume.path})` }]);
    const launch = workerLaunch(this.executor, { dir, kind: job.kind, gpus: job.gpus, parallel: job.parallel, resume: resume?.path }, this.workspace.root);
    const proc = new WorkerProcess(launch, (line) => this.onWorkerLine(job.id, active, line));
    active.proc = proc;
    if (proc.pid) this.store.setPid(job.id, proc.pid);
    if (active.pauseRequested) proc.control('pause');
    this.emit(job.id, [{ type: 'log', level: 'debug', message: `worker ${launch.executor} pid ${proc.pid}: ${launch.command} ${launch.args.join(' ')}` }]);
    const exit = await proc.exited;
    this.store.setPid(job.id, null);
    this.onWorkerExit(job.id, active, exit);
  }

  private afterStopWithoutWorker(id: string, active: Active): void {
    if (active.stopReason === 'shutdown') this.setState(id, 'queued');
    else this.setState(id, 'stopped');
  }

  private onWorkerLine(id: string, active: Active, line: string): void {
    const event = parseWorkerLine(line, { job: id, seq: 0, time: Date.now() });
    const body = unstamp(event);
    if (body.type === 'error' && !body.recoverable) active.lastError = body.where ? `${body.message} (at ${body.where})` : body.message;
    if (body.type !== 'state') return this.emit(id, [body]);
    const current = this.store.job(id)?.state;
    if (body.state === current || isTerminalState(current ?? 'queued')) return; // the runner already said so
    switch (body.state) {
      case 'running':
      case 'paused':
        return void this.setState(id, body.state);
      case 'finished':
        return void this.setState(id, 'finished');
      case 'stopped':
        if (active.stopReason === 'shutdown') return this.emit(id, [{ type: 'log', level: 'info', message: 'worker stopped for the runner’s shutdown; the job resumes at the next start' }]);
        return void this.setState(id, 'stopped');
      case 'failed':
        return; // decided at exit, with the stderr tail
      case 'queued':
        return this.emit(id, [{ type: 'log', level: 'warn', message: 'worker reported state queued; ignored' }]);
    }
  }

  private onWorkerExit(id: string, active: Active, exit: WorkerExit): void {
    const state = this.store.job(id)?.state;
    const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
    if (active.stopReason === 'shutdown' && (state === 'running' || state === 'paused')) {
      this.setState(id, 'queued');
      return;
    }
    if (state && isTerminalState(state)) {
      if (exit.code !== 0) this.emit(id, [{ type: 'log', level: 'warn', message: `worker ${how} after reporting ${state}` }]);
      return;
    }
    if (active.stopReason === 'user') {
      const note = exit.killed ? `worker did not exit within ${this.stopGraceMs} ms of SIGTERM and was killed` : `worker ${how}`;
      this.emit(id, [{ type: 'log', level: exit.killed ? 'warn' : 'info', message: note }]);
      this.setState(id, 'stopped');
      return;
    }
    if (exit.code === 0) {
      this.emit(id, [{ type: 'log', level: 'warn', message: 'worker exited 0 without reporting a final state' }]);
      this.setState(id, 'finished');
      return;
    }
    const tail = exit.stderrTail.trimEnd();
    const reason = active.lastError ?? `worker ${how}`;
    this.fail(id, reason, undefined, tail);
  }

  /** Fail a job: an error event (with the end of stderr, if any) and the failed state, with the whole tail kept on the job. */
  private fail(id: string, reason: string, where?: string, stderrTail = ''): void {
    const state = this.store.job(id)?.state;
    if (!state || isTerminalState(state)) return;
    const short = stderrTail.length > 4000 ? '…' + stderrTail.slice(-4000) : stderrTail;
    const message = short ? `${reason}\n--- worker stderr (end) ---\n${short}` : reason;
    this.emit(id, [{ type: 'error', message, recoverable: false, ...(where ? { where } : {}) }]);
    this.setState(id, 'failed', { error: stderrTail ? `${reason}\n--- worker stderr (end) ---\n${stderrTail}` : reason });
  }

  // ── events ──────────────────────────────────────────────────────────────────────────────────

  private emit(id: string, bodies: TelemetryEventBody[]): void {
    if (bodies.length > 0) this.hub.publish(this.store.append(id, bodies));
  }

  private setState(id: string, state: JobState, opts: { error?: string; attempt?: boolean } = {}): void {
    this.hub.publish([this.store.transition(id, state, opts)]);
  }
}

function unstamp(event: TelemetryEvent): TelemetryEventBody {
  const { job: _j, seq: _s, time: _t, ...body } = event;
  return body as TelemetryEventBody;
}

function errorWhere(e: unknown): string | undefined {
  if (e instanceof RetortError && 'file' in e) {
    const f = e as RetortError & { file: string; line?: number };
    return f.line === undefined ? f.file : `${f.file}:${f.line}`;
  }
  return undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Sortable by creation time, unique enough, and safe as a folder name and URL segment. */
export function newJobId(now = Date.now()): string {
  return `j${now.toString(36)}-${randomBytes(3).toString('hex')}`;
}

export const JOB_ID_PATTERN = /^j[0-9a-z]+-[0-9a-f]{6}$/;
