/**
 * `retort runner`: the companion runner (src/runner). Prints the URL and the bearer token the
 * playground needs, then serves until SIGINT/SIGTERM, when workers checkpoint and stop; their jobs
 * resume at the next start.
 */
import { resolve } from 'node:path';
import { type Runner, startRunner } from '../runner/runner.ts';
import { DEFAULT_ORIGINS } from '../runner/server.ts';
import { parseCommand } from './args.ts';

const HELP = `usage: retort runner [options]

  --host H            address to bind (default 127.0.0.1: this machine only)
  --port N            port (default 7860; 0 = any free port)
  --workspace DIR     folder for jobs, datasets, checkpoints and the job database (default ./retort-workspace)
  --serve DIR         a model folder to serve at /v1/chat/completions (repeatable)
  --token T           bearer token (default $RETORT_TOKEN, else a random one, printed)
  --allow-origin O    a page origin allowed to call the runner (repeatable; default:
                      ${DEFAULT_ORIGINS.join(' ')})
  --gpus LIST         GPU indices the runner may use, e.g. 0,1 (default: all nvidia-smi lists)
  --max-upload BYTES  largest file accepted by PUT /v1/files (default 16 GiB)
  --stop-grace S      seconds a stopped worker has to checkpoint before SIGKILL (default 60)

The torch worker runs under $RETORT_PYTHON, else /usr/bin/python3 if it has torch, else python3.`;

export async function runnerCommand(argv: string[]): Promise<number> {
  const v = parseCommand(
    'runner',
    argv,
    {
      host: { type: 'string' },
      port: { type: 'string' },
      workspace: { type: 'string' },
      serve: { type: 'string', multiple: true },
      token: { type: 'string' },
      'allow-origin': { type: 'string', multiple: true },
      gpus: { type: 'string' },
      'max-upload': { type: 'string' },
      'stop-grace': { type: 'string' },
    },
    HELP,
  );
  if (!v) return 0;
  const port = v.port === undefined ? 7860 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: "${v.port}" is not a port number`);
  const maxUpload = v['max-upload'] === undefined ? undefined : Number(v['max-upload']);
  if (maxUpload !== undefined && !(maxUpload > 0)) throw new Error(`--max-upload: "${v['max-upload']}" is not a byte count`);
  const grace = v['stop-grace'] === undefined ? undefined : Number(v['stop-grace']) * 1000;
  if (grace !== undefined && !(grace >= 0)) throw new Error(`--stop-grace: "${v['stop-grace']}" is not a number of seconds`);
  let gpus;
  if (v.gpus !== undefined) {
    const { detectGpus } = await import('../runner/executor.ts');
    const all = detectGpus();
    const want = v.gpus.split(',').map((s) => Number(s.trim()));
    const missing = want.filter((i) => !all.some((g) => g.index === i));
    if (missing.length) throw new Error(`--gpus: no GPU ${missing.join(', ')} (nvidia-smi lists ${all.map((g) => g.index).join(', ') || 'none'})`);
    gpus = all.filter((g) => want.includes(g.index));
  }
  const runner: Runner = await startRunner({
    workspace: resolve(v.workspace ?? 'retort-workspace'),
    host: v.host,
    port,
    token: v.token,
    allowOrigins: v['allow-origin'],
    serve: (v.serve ?? []).map((d) => resolve(d)),
    maxUploadBytes: maxUpload,
    stopGraceMs: grace,
    gpus,
  });
  const { executor } = runner.context;
  console.log(`retort runner listening on ${runner.url}`);
  console.log(`token: ${runner.token}`);
  console.log(`workspace: ${runner.workspace}`);
  console.log(`python: ${executor.python}; ${executor.gpus.length ? `GPUs: ${executor.gpus.map((g) => `${g.index} ${g.name}`).join(', ')}` : 'no GPU: jobs run on the CPU, one at a time'}`);
  console.log(`playground: open it and connect to ${runner.url} with the token above`);
  await new Promise<void>((done) => {
    const stop = (signal: string) => {
      console.log(`retort runner: ${signal}: stopping workers (they checkpoint; their jobs resume at the next start)…`);
      void runner.close().then(done);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  return 0;
}
