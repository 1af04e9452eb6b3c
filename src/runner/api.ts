/**
 * The runner's HTTP API as data: request schemas (validated at the server's edge) and the shapes
 * it answers with. Shared by the server and RunnerSession, so it must stay platform-neutral.
 *
 *   GET  /v1/info                                   SessionInfo
 *   POST /v1/load      LoadRequest                  ModelInfo[]
 *   POST /v1/probe     ProbeRequest                 ProbeResult
 *   POST /v1/generate  GenerateRequest              SSE: `token` events (TokenEvent), ends after done
 *   POST /v1/jobs      JobSpec | JobRequest         201 JobRecord
 *   GET  /v1/jobs                                   JobRecord[]
 *   GET  /v1/jobs/:id                               JobRecord
 *   POST /v1/jobs/:id/cancel                        JobRecord (queued → stopped; running → stop)
 *   POST /v1/jobs/:id/control   ControlRequest      JobRecord
 *   GET  /v1/jobs/:id/events[?since=SEQ]            SSE, id = seq; ends after the job's terminal state
 *   GET  /v1/events[?jobs=a,b][&since=CURSOR]       SSE, all (or the listed) jobs, id = global cursor
 *   GET  /v1/jobs/:id/checkpoints                   CheckpointInfo[]
 *   GET  /v1/jobs/:id/checkpoints/:step             CheckpointFiles (a manifest of the folder)
 *   GET  /v1/jobs/:id/checkpoints/:step/files/:name the file's bytes
 *   PUT  /v1/files/<path>      raw bytes            201 UploadResult (atomic; size-limited)
 *   GET  /v1/models                                 OpenAI model list
 *   POST /v1/chat/completions                       OpenAI chat completion (stream or not)
 * Every /v1 route needs `Authorization: Bearer <token>`. Errors answer ErrorBody with a 4xx/5xx.
 * SSE streams resume from the `Last-Event-ID` header (or `since`), replaying from the job store.
 */
import { z } from 'zod';
import type { ConfigProblem } from '../core/schema/config-error.ts';
import type { JobKind, JobSpec } from '../core/schema/job-spec.ts';
import { JOB_ACTIONS } from '../core/session.ts';
import type { JobState } from '../core/telemetry.ts';
import type { RunManifest } from '../core/run-manifest.ts';

export const API_PREFIX = '/v1';

/**
 * How a distill job uses several GPUs: `ddp` replicates the student on each (torchrun), `fsdp` shards
 * it (students that do not fit one GPU), `teacher-gpu` runs one process with the student on the first
 * of two GPUs and the online teacher on the second.
 */
export const ParallelSchema = z.enum(['ddp', 'fsdp', 'teacher-gpu']).describe('how a distill job uses its GPUs');
export type Parallel = z.infer<typeof ParallelSchema>;

/** POST /v1/jobs may wrap the spec to say where and how it runs (absent = all GPUs, DDP). */
export const JobRequestSchema = z.strictObject({
  spec: z.unknown().describe('the JobSpec'),
  gpus: z.array(z.int().min(0).max(1023)).min(1).max(64).optional().describe('GPU indices the job runs on (absent = all)'),
  parallel: ParallelSchema.default('ddp'),
});
export type JobRequest = z.infer<typeof JobRequestSchema>;

export const ControlRequestSchema = z.strictObject({
  action: z.enum(JOB_ACTIONS).describe('what to do with the running job'),
});
export type ControlRequest = z.infer<typeof ControlRequestSchema>;

export interface JobRecord {
  id: string;
  kind: JobKind;
  state: JobState;
  spec: JobSpec;
  /** GPUs the job holds while it runs; [] on a CPU-only runner. */
  gpus: number[];
  /** How a distill job uses several GPUs (ParallelSchema). */
  parallel: Parallel;
  created: number; // ms since the Unix epoch
  started?: number;
  ended?: number;
  /** Why it failed: the error event's message and the worker's stderr tail. */
  error?: string;
  /** Times a worker was started for it (more than 1 after a resume). */
  attempts: number;
  /** Events so far (the next event's seq). */
  events: number;
}

export interface CheckpointFiles {
  step: number;
  path: string;
  files: { name: string; bytes: number }[];
  /** The checkpoint's run manifest (resolved spec, seed, data hashes, code version), when it has a valid one. */
  manifest?: RunManifest;
  /** Why the folder's run manifest was not given: it does not parse or validate (file and fields named). */
  manifestError?: string;
}

export interface UploadResult {
  path: string; // relative to the workspace
  bytes: number;
}

export interface ErrorBody {
  error: string; // short machine-readable code: 'unauthorized', 'invalid-body', 'not-found', …
  message: string; // what was wrong, naming the field or path
  problems?: ConfigProblem[];
}

/**
 * SSE event names. Telemetry streams send unnamed events (`message`) whose data is a TelemetryEvent;
 * /v1/generate sends `token` events (TokenEvent) and, if generation fails midway, one `error` (ErrorBody).
 */
export const SSE_EVENT = { token: 'token', error: 'error' } as const;
