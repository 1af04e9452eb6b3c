/**
 * Jobs and their events in SQLite (WORKSPACE/runner.db, WAL). Every state change is a row update
 * and a `state` event written in one transaction, so the job table and the event log never
 * disagree, and a runner killed at any moment restarts from what is on disk.
 *
 * Events have two numbers: `seq`, the position in their job's stream (SSE id of /v1/jobs/:id/events),
 * and `cursor`, a global insertion order (SSE id of the multiplexed /v1/events).
 */
import Database from 'better-sqlite3';
import type { JobSpec } from '../core/schema/job-spec.ts';
import { type JobState, type TelemetryEvent, type TelemetryEventBody, stampEvent } from '../core/telemetry.ts';
import type { JobRecord, Parallel } from './api.ts';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS jobs (
  id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  state TEXT NOT NULL,
  spec TEXT NOT NULL,            -- JobSpec JSON, as validated
  gpus TEXT NOT NULL,            -- JSON int[]; [] = CPU
  parallel TEXT NOT NULL DEFAULT 'ddp', -- how a distill job uses several GPUs (api.ts ParallelSchema)
  created INTEGER NOT NULL,      -- ms since epoch
  started INTEGER,
  ended INTEGER,
  error TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  pid INTEGER,                   -- worker process while running (killed on recovery)
  next_seq INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events (
  cursor INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  seq INTEGER NOT NULL,
  body TEXT NOT NULL,            -- the stamped TelemetryEvent JSON
  UNIQUE (job, seq)
);
`;

interface JobRow {
  id: string;
  kind: string;
  state: string;
  spec: string;
  gpus: string;
  parallel: string;
  created: number;
  started: number | null;
  ended: number | null;
  error: string | null;
  attempts: number;
  pid: number | null;
  next_seq: number;
}

/** An event with its global position, for the multiplexed stream. */
export interface StoredEvent {
  cursor: number;
  event: TelemetryEvent;
}

export class JobStore {
  private readonly db: Database.Database;
  private readonly q;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL'); // WAL + NORMAL: a power cut may lose the last commits, never corrupt
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    // Workspaces from before the parallel column: add it (CREATE TABLE IF NOT EXISTS keeps old tables).
    const columns = this.db.prepare('PRAGMA table_info(jobs)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'parallel')) this.db.exec("ALTER TABLE jobs ADD COLUMN parallel TEXT NOT NULL DEFAULT 'ddp'");
    this.q = {
      insertJob: this.db.prepare(
        'INSERT INTO jobs (id, kind, state, spec, gpus, parallel, created) VALUES (@id, @kind, @state, @spec, @gpus, @parallel, @created)',
      ),
      job: this.db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE id = ?'),
      jobs: this.db.prepare<[], JobRow>('SELECT * FROM jobs ORDER BY created, rowid'),
      byState: this.db.prepare<[string], JobRow>('SELECT * FROM jobs WHERE state = ? ORDER BY created, rowid'),
      nextSeq: this.db.prepare<[string], { next_seq: number }>('SELECT next_seq FROM jobs WHERE id = ?'),
      bumpSeq: this.db.prepare('UPDATE jobs SET next_seq = next_seq + 1 WHERE id = ?'),
      insertEvent: this.db.prepare('INSERT INTO events (job, seq, body) VALUES (?, ?, ?)'),
      setState: this.db.prepare('UPDATE jobs SET state = ? WHERE id = ?'),
      update: this.db.prepare(
        'UPDATE jobs SET started = coalesce(@started, started), ended = @ended, error = coalesce(@error, error), attempts = attempts + @attempt WHERE id = @id',
      ),
      setPid: this.db.prepare('UPDATE jobs SET pid = ? WHERE id = ?'),
      eventsSince: this.db.prepare<[string, number], { cursor: number; body: string }>('SELECT cursor, body FROM events WHERE job = ? AND seq > ? ORDER BY seq'),
      allSince: this.db.prepare<[number], { cursor: number; body: string }>('SELECT cursor, body FROM events WHERE cursor > ? ORDER BY cursor'),
      lastCursor: this.db.prepare<[], { c: number | null }>('SELECT max(cursor) AS c FROM events'),
    };
  }

  close(): void {
    this.db.close();
  }

  createJob(id: string, spec: JobSpec, placement: { gpus: number[]; parallel: Parallel }, now = Date.now()): { job: JobRecord; events: StoredEvent[] } {
    return this.db.transaction(() => {
      this.q.insertJob.run({ id, kind: spec.kind, state: 'queued', spec: JSON.stringify(spec), gpus: JSON.stringify(placement.gpus), parallel: placement.parallel, created: now });
      const event = this.appendInTx(id, { type: 'state', state: 'queued' }, now);
      return { job: this.job(id)!, events: [event] };
    })();
  }

  job(id: string): JobRecord | undefined {
    const row = this.q.job.get(id);
    return row && toRecord(row);
  }

  jobs(state?: JobState): JobRecord[] {
    return (state ? this.q.byState.all(state) : this.q.jobs.all()).map(toRecord);
  }

  pid(id: string): number | null {
    return this.q.job.get(id)?.pid ?? null;
  }

  setPid(id: string, pid: number | null): void {
    this.q.setPid.run(pid, id);
  }

  /** Append events the job emitted; returns them stamped with seq (and their global cursor). */
  append(id: string, bodies: TelemetryEventBody[], now = Date.now()): StoredEvent[] {
    return this.db.transaction(() => bodies.map((b) => this.appendInTx(id, b, now)))();
  }

  nextSeq(id: string): number {
    return this.q.nextSeq.get(id)?.next_seq ?? 0;
  }

  /**
   * Change a job's state and log the `state` event in one transaction. `started` is set on
   * running (the first time), `ended` on terminal states; `error` keeps the failure's message.
   */
  transition(id: string, state: JobState, opts: { error?: string; attempt?: boolean; now?: number } = {}): StoredEvent {
    const now = opts.now ?? Date.now();
    return this.db.transaction(() => {
      this.q.setState.run(state, id);
      const terminal = state === 'finished' || state === 'failed' || state === 'stopped';
      this.q.update.run({
        id,
        started: state === 'running' ? now : null,
        ended: terminal ? now : null,
        error: opts.error ?? null,
        attempt: opts.attempt ? 1 : 0,
      });
      return this.appendInTx(id, { type: 'state', state }, now);
    })();
  }

  /** Events of one job with seq > since, oldest first. */
  eventsSince(id: string, since: number): StoredEvent[] {
    return this.q.eventsSince.all(id, since).map((r) => ({ cursor: r.cursor, event: JSON.parse(r.body) as TelemetryEvent }));
  }

  /** Events of all jobs (or those in `jobs`) with cursor > since. */
  allSince(since: number, jobs?: ReadonlySet<string>): StoredEvent[] {
    const out: StoredEvent[] = [];
    for (const r of this.q.allSince.iterate(since)) {
      const event = JSON.parse(r.body) as TelemetryEvent;
      if (!jobs || jobs.has(event.job)) out.push({ cursor: r.cursor, event });
    }
    return out;
  }

  lastCursor(): number {
    return this.q.lastCursor.get()?.c ?? 0;
  }

  private appendInTx(id: string, body: TelemetryEventBody, now: number): StoredEvent {
    const seq = this.q.nextSeq.get(id)?.next_seq;
    if (seq === undefined) throw new Error(`no job ${id}`);
    return this.insert(stampEvent(body, id, seq, now));
  }

  private insert(event: TelemetryEvent): StoredEvent {
    const info = this.q.insertEvent.run(event.job, event.seq, JSON.stringify(event));
    this.q.bumpSeq.run(event.job);
    return { cursor: Number(info.lastInsertRowid), event };
  }
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    kind: row.kind as JobRecord['kind'],
    state: row.state as JobState,
    spec: JSON.parse(row.spec) as JobSpec,
    gpus: JSON.parse(row.gpus) as number[],
    parallel: row.parallel as Parallel,
    created: row.created,
    started: row.started ?? undefined,
    ended: row.ended ?? undefined,
    error: row.error ?? undefined,
    attempts: row.attempts,
    events: row.next_seq,
  };
}
