/** Jobs: submit, list, inspect, cancel, control; checkpoints and their files. */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ConfigError, parseConfig } from '../core/schema/config-error.ts';
import { type JobSpec, parseJobSpec } from '../core/schema/job-spec.ts';
import { ControlRequestSchema, JobRequestSchema, type Parallel } from './api.ts';
import { checkpointFiles, listCheckpoints } from './checkpoints.ts';
import type { RunnerContext } from './context.ts';
import { JOB_ID_PATTERN, JobRequestError } from './jobs.ts';
import { CHECKPOINTS_DIR } from './protocol.ts';
import { isInside, type Workspace } from './workspace.ts';

type IdParams = { id: string };

export function registerJobRoutes(app: FastifyInstance, ctx: RunnerContext): void {
  const { jobs, workspace } = ctx;

  app.post('/v1/jobs', async (request, reply) => {
    const { spec, gpus, parallel } = await parseJobRequest(request.body, workspace);
    return reply.status(201).send(await jobs.submit(spec, gpus, parallel));
  });

  app.get('/v1/jobs', async () => jobs.list());

  app.get<{ Params: IdParams }>('/v1/jobs/:id', async (request) => jobs.get(jobId(request.params.id)));

  app.post<{ Params: IdParams }>('/v1/jobs/:id/cancel', async (request) => jobs.cancel(jobId(request.params.id)));

  app.post<{ Params: IdParams }>('/v1/jobs/:id/control', async (request) => {
    const { action } = parseConfig(ControlRequestSchema, request.body ?? {}, 'control request');
    return jobs.control(jobId(request.params.id), action);
  });

  app.get<{ Params: IdParams }>('/v1/jobs/:id/checkpoints', async (request) => {
    const job = jobs.get(jobId(request.params.id));
    return listCheckpoints(workspace.jobDir(job.id));
  });

  app.get<{ Params: IdParams & { step: string } }>('/v1/jobs/:id/checkpoints/:step', async (request) => {
    const job = jobs.get(jobId(request.params.id));
    const files = await checkpointFiles(workspace.jobDir(job.id), step(request.params.step));
    if (!files) throw new JobRequestError(404, `job ${job.id} has no checkpoint step-${request.params.step}`);
    return files;
  });

  app.get<{ Params: IdParams & { step: string; name: string } }>('/v1/jobs/:id/checkpoints/:step/files/:name', async (request, reply) => {
    const job = jobs.get(jobId(request.params.id));
    const { name } = request.params;
    if (!/^[^/\\]+$/.test(name) || name.startsWith('.')) throw new JobRequestError(400, `name: ${JSON.stringify(name)} is not a checkpoint file name`);
    const file = join(workspace.jobDir(job.id), CHECKPOINTS_DIR, `step-${step(request.params.step)}`, name);
    const info = await stat(file).catch(() => null);
    if (!info?.isFile()) throw new JobRequestError(404, `job ${job.id} checkpoint step-${request.params.step} has no file ${name}`);
    if (!isInside(workspace.root, await realpath(file))) throw new JobRequestError(400, `${name} points outside the workspace`);
    return reply
      .header('content-type', 'application/octet-stream')
      .header('content-length', info.size)
      .header('content-disposition', `attachment; filename="${name.replace(/"/g, '')}"`)
      .send(createReadStream(file));
  });
}

/** A route's :id that cannot be a job id is simply not found (and never reaches a path join). */
function jobId(id: string): string {
  if (!JOB_ID_PATTERN.test(id)) throw new JobRequestError(404, `no job ${id}`);
  return id;
}

function step(text: string): number {
  if (!/^\d{1,12}$/.test(text)) throw new JobRequestError(404, `no checkpoint step ${text}`);
  return Number(text);
}

/**
 * POST /v1/jobs body: a JobSpec, or {spec, gpus}. Fields are named as the client wrote them
 * (`stages.0.loss.alpha`, or `spec.stages.0.loss.alpha` inside the wrapper). Every path in the
 * spec must stay inside the workspace.
 */
export async function parseJobRequest(body: unknown, workspace: Workspace): Promise<{ spec: JobSpec; gpus?: number[]; parallel: Parallel }> {
  const wrapped = typeof body === 'object' && body !== null && !Array.isArray(body) && 'spec' in body && !('kind' in body);
  let spec: JobSpec;
  let gpus: number[] | undefined;
  let parallel: Parallel = 'ddp';
  if (wrapped) {
    const req = parseConfig(JobRequestSchema, body, 'job request');
    try {
      spec = parseJobSpec(req.spec, 'job request');
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      throw new ConfigError(e.source, e.problems.map((p) => ({ ...p, path: p.path ? `spec.${p.path}` : 'spec' })));
    }
    gpus = req.gpus;
    parallel = req.parallel;
  } else {
    spec = parseJobSpec(body, 'job spec');
  }
  const prefix = wrapped ? 'spec.' : '';
  for (const [field, path] of specPaths(spec)) await workspace.resolve(path, prefix + field);
  return { spec, gpus, parallel };
}

/** Every file or folder a spec names, with its field path. */
export function specPaths(spec: JobSpec): [string, string][] {
  switch (spec.kind) {
    case 'distill':
      return [
        ['teacher.path', spec.teacher.path],
        ['student.path', spec.student.path],
        ...spec.stages.map((s, i): [string, string] => [`stages.${i}.data.path`, s.data.path]),
        ...(spec.eval.dataset ? [['eval.dataset', spec.eval.dataset] as [string, string]] : []),
        ...(spec.output.dir ? [['output.dir', spec.output.dir] as [string, string]] : []),
      ];
    case 'teacher-generate':
      return [
        ...(spec.source.kind === 'local' ? [['source.path', spec.source.path] as [string, string]] : []),
        ['prompts', spec.prompts],
        ['output', spec.output],
      ];
    case 'eval':
      return [
        ['model.path', spec.model.path],
        ['dataset', spec.dataset],
      ];
    case 'export':
      return [
        ['model.path', spec.model.path],
        ['out', spec.out],
      ];
  }
}
