/**
 * Event streams (SSE). Each stream subscribes to the hub and replays from SQLite in the same tick,
 * so no event falls between replay and live delivery.
 *
 *   GET /v1/jobs/:id/events     id = seq; resumes from Last-Event-ID or ?since=SEQ (default: all);
 *                               ends after the job's terminal state event
 *   GET /v1/events?jobs=a,b:12  one stream for many jobs (browsers allow 6 connections per origin);
 *                               id = global cursor. `a` replays a from its start, `b:12` from seq > 12;
 *                               no `jobs` = every job, new events only. Last-Event-ID (or ?since=CURSOR)
 *                               replays everything of those jobs after that cursor instead.
 */
import type { FastifyInstance } from 'fastify';
import { isTerminalState, type TelemetryEvent } from '../core/telemetry.ts';
import type { RunnerContext } from './context.ts';
import { JOB_ID_PATTERN, JobRequestError } from './jobs.ts';
import { SseStream, resumePoint } from './sse.ts';
import type { StoredEvent } from './store.ts';

export function registerEventRoutes(app: FastifyInstance, ctx: RunnerContext): void {
  const { store, hub, jobs } = ctx;

  app.get<{ Params: { id: string }; Querystring: { since?: string } }>('/v1/jobs/:id/events', async (request, reply) => {
    const id = request.params.id;
    if (!JOB_ID_PATTERN.test(id)) throw new JobRequestError(404, `no job ${id}`);
    jobs.get(id);
    const since = resumePoint(request, request.query.since) ?? -1;
    if (Number.isNaN(since)) throw new JobRequestError(400, 'Last-Event-ID / since: expected an event seq (integer ≥ −1)');
    const stream = new SseStream(request, reply, ctx.options.sse);
    let last = since;
    const deliver = (e: TelemetryEvent) => {
      if (e.seq <= last) return;
      last = e.seq;
      stream.send(e, { id: e.seq });
      if (e.type === 'state' && isTerminalState(e.state)) stream.end();
    };
    const unsubscribe = hub.subscribe((s) => deliver(s.event), new Set([id]));
    stream.onClose(unsubscribe);
    for (const s of store.eventsSince(id, since)) deliver(s.event);
    if (isTerminalState(jobs.get(id).state)) stream.end(); // resumed after the end: nothing more will come
  });

  app.get<{ Querystring: { jobs?: string; since?: string } }>('/v1/events', async (request, reply) => {
    const wanted = parseJobList(request.query.jobs);
    const cursor = resumePoint(request, request.query.since);
    if (Number.isNaN(cursor)) throw new JobRequestError(400, 'Last-Event-ID / since: expected an event cursor (integer ≥ 0)');
    const filter = wanted ? new Set(wanted.keys()) : null;
    let replay: StoredEvent[];
    if (cursor !== null) replay = store.allSince(cursor, filter ?? undefined);
    else if (wanted) replay = [...wanted].flatMap(([job, seq]) => store.eventsSince(job, seq)).sort((a, b) => a.cursor - b.cursor);
    else replay = [];
    const stream = new SseStream(request, reply, ctx.options.sse);
    let last = replay.at(-1)?.cursor ?? 0;
    const deliver = (s: StoredEvent) => {
      if (s.cursor <= last) return;
      last = s.cursor;
      stream.send(s.event, { id: s.cursor });
    };
    const unsubscribe = hub.subscribe(deliver, filter);
    stream.onClose(unsubscribe);
    for (const s of replay) stream.send(s.event, { id: s.cursor });
  });
}

/** `a,b:12` → {a: −1, b: 12}; undefined when absent. */
function parseJobList(text: string | undefined): Map<string, number> | undefined {
  if (text === undefined || text === '') return undefined;
  const out = new Map<string, number>();
  for (const part of text.split(',')) {
    const [id, seqText] = part.split(':');
    const seq = seqText === undefined ? -1 : Number(seqText);
    if (!JOB_ID_PATTERN.test(id) || !Number.isSafeInteger(seq) || seq < -1)
      throw new JobRequestError(400, `jobs: ${JSON.stringify(part)} is not JOB_ID or JOB_ID:SEQ`);
    out.set(id, seq);
  }
  if (out.size > 1000) throw new JobRequestError(400, 'jobs: at most 1000 jobs per stream');
  return out;
}
