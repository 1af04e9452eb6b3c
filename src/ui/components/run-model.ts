/**
 * A run as the Train and Runs views see it: the spec it was started with and what its telemetry said
 * (step points, state, checkpoints, progress). The same record describes a job of this tab and a
 * runner job, so both are shown and compared by the same code.
 */
import type { JobSpecInput } from '../../core/schema/job-spec.ts';
import type { CheckpointInfo } from '../../core/session.ts';
import type { JobState, TelemetryEvent } from '../../core/telemetry.ts';

export interface StepPoint {
  step: number;
  stage: number;
  loss: number;
  time: number; // ms since the Unix epoch
  metrics: Record<string, number>;
}

export interface RunRecord {
  /** Unique across reloads: job ids of the tab restart at local-1 after a reload. */
  id: string;
  job: string;
  mode: 'local' | 'runner';
  /** The runner's URL for runner jobs. */
  origin?: string;
  spec: JobSpecInput;
  created: number;
  state: JobState;
  steps: StepPoint[];
  checkpoints: CheckpointInfo[];
  /** Last seq seen, to resume the event stream. */
  lastSeq: number;
  errors: string[];
  /** Log lines (log events, state changes), newest last, capped at LOG_LINES. */
  log: string[];
  /** Total optimizer steps the spec asks for (0 when unknown). */
  totalSteps: number;
}

export function newRun(job: string, mode: RunRecord['mode'], spec: JobSpecInput, origin?: string): RunRecord {
  const stages = spec.kind === 'distill' ? spec.stages : [];
  return {
    id: `${mode}:${job}:${Date.now()}`,
    job, mode, origin, spec,
    created: Date.now(),
    state: 'queued',
    steps: [],
    checkpoints: [],
    lastSeq: -1,
    errors: [],
    log: [],
    totalSteps: stages.reduce((n, s) => n + s.stop.steps, 0),
  };
}

/** Apply one telemetry event to a run (mutates it); returns true when the run should be saved now. */
export function foldEvent(run: RunRecord, e: TelemetryEvent): boolean {
  run.lastSeq = Math.max(run.lastSeq, e.seq);
  const line = logLine(e);
  if (line) {
    run.log ??= []; // records stored before the log existed
    run.log.push(`${new Date(e.time).toLocaleTimeString()} ${line}`);
    if (run.log.length > LOG_LINES) run.log.splice(0, run.log.length - LOG_LINES);
  }
  switch (e.type) {
    case 'step':
      run.steps.push({ step: e.step, stage: e.stage, loss: e.loss, time: e.time, metrics: e.metrics });
      return false;
    case 'state':
      run.state = e.state;
      return true;
    case 'checkpoint':
      if (!run.checkpoints.some((c) => c.step === e.step)) run.checkpoints.push({ step: e.step, path: e.path, bytes: e.bytes ?? 0, time: e.time });
      return true;
    case 'error':
      run.errors.push(e.where && !e.message.startsWith(e.where) ? `${e.where}: ${e.message}` : e.message);
      return true;
    default:
      return false;
  }
}

const LOG_LINES = 200;

function logLine(e: TelemetryEvent): string | null {
  switch (e.type) {
    case 'log': return `${e.level}: ${e.message}`;
    case 'state': return `state → ${e.state}`;
    case 'checkpoint': return `checkpoint at step ${e.step}: ${e.path}`;
    case 'error': return `error${e.where ? ` (${e.where})` : ''}: ${e.message}`;
    case 'progress': return `${e.done} / ${e.total || '?'} ${e.what}`;
    default: return null;
  }
}

/** Steps where a new stage begins (for the chart's stage markers). */
export function stageBoundaries(steps: readonly StepPoint[]): number[] {
  const out: number[] = [];
  for (let i = 1; i < steps.length; i++) if (steps[i].stage !== steps[i - 1].stage) out.push(steps[i].step);
  return out;
}

/** Remaining time from the mean step time so far (ms), or null before two steps. */
export function etaMs(run: RunRecord): number | null {
  const s = run.steps;
  if (s.length < 2 || run.totalSteps === 0) return null;
  const perStep = (s[s.length - 1].time - s[0].time) / (s[s.length - 1].step - s[0].step || 1);
  return Math.max(0, (run.totalSteps - 1 - s[s.length - 1].step) * perStep);
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m} min ${s % 60} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** Metric names any step of these runs carries, in first-seen order. */
export function metricNames(runs: readonly RunRecord[]): string[] {
  const names = new Set<string>();
  for (const r of runs) for (const p of r.steps) for (const k of Object.keys(p.metrics)) names.add(k);
  return [...names];
}

/** One row per step, columns run, step, stage, loss and every metric: CSV text. */
export function runsToCsv(runs: readonly RunRecord[]): string {
  const names = metricNames(runs);
  const rows = [['run', 'job', 'step', 'stage', 'time', 'loss', ...names].join(',')];
  for (const r of runs)
    for (const p of r.steps) rows.push([csvCell(r.id), csvCell(r.job), p.step, p.stage, p.time, p.loss, ...names.map((n) => p.metrics[n] ?? '')].join(','));
  return rows.join('\n') + '\n';
}

/** One JSON object per step (the telemetry step event's fields plus the run). */
export function runsToJsonl(runs: readonly RunRecord[]): string {
  return runs.flatMap((r) => r.steps.map((p) => JSON.stringify({ run: r.id, job: r.job, ...p }))).join('\n') + '\n';
}

function csvCell(s: string): string {
  return /[",\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** `{a: {b: 1}, c: [2]}` → `a.b = 1`, `c = [2]` (arrays of scalars stay whole; arrays of objects are indexed). */
export function flattenSpec(value: unknown, prefix = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value) && value.some((v) => typeof v === 'object' && v !== null)) value.forEach((v, i) => flattenSpec(v, `${prefix}${prefix ? '.' : ''}${i}`, out));
  else if (typeof value === 'object' && value !== null && !Array.isArray(value))
    for (const [k, v] of Object.entries(value)) flattenSpec(v, `${prefix}${prefix ? '.' : ''}${k}`, out);
  else out.set(prefix, JSON.stringify(value));
  return out;
}
