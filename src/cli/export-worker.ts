/**
 * The runner's worker for `export` jobs: `node bin/run-ts.mjs src/cli/export-worker.ts --job JOB_DIR`.
 * ONNX export is TypeScript (src/onnx), so this, not the torch worker, runs it; it lives in the CLI
 * because the runner itself depends on core only and starts it by command line.
 *
 * Speaks the torch worker's protocol (src/runner/protocol.ts): reads JOB_DIR/spec.json, writes
 * events as JSON lines on stdout, paths relative to its working directory (the workspace). The
 * export is written to a temporary sibling folder and renamed onto `out`, so `out` is never half
 * written. Nothing to resume: SIGTERM ends it with `state: stopped` and a re-queued job starts over.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseJobSpec } from '../core/schema/job-spec.ts';
import type { TelemetryEventBody } from '../core/telemetry.ts';
import { exportOnnx } from '../onnx/export.ts';
import { SPEC_FILE } from '../runner/protocol.ts';
import { writeChunks } from './export.ts';
import { NodeFileSource } from './node-files.ts';

const emit = (event: TelemetryEventBody) => process.stdout.write(JSON.stringify(event) + '\n');

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { job: { type: 'string' } } });
  if (!values.job) throw new Error('usage: export-worker.ts --job JOB_DIR');
  const specFile = join(values.job, SPEC_FILE);
  const spec = parseJobSpec(JSON.parse(await readFile(specFile, 'utf8')), specFile);
  if (spec.kind !== 'export') throw new Error(`${specFile}: kind: expected 'export', got '${spec.kind}'`);
  const tmp = `${spec.out.replace(/\/+$/, '')}.tmp-${process.pid}`;
  process.once('SIGTERM', () => {
    void rm(tmp, { recursive: true, force: true }).finally(() => {
      emit({ type: 'state', state: 'stopped' });
      process.exit(0);
    });
  });
  emit({ type: 'state', state: 'running' });
  const result = await exportOnnx(new NodeFileSource(), spec.model.path, { dtype: spec.dtype });
  for (const [i, f] of result.files.entries()) {
    await writeChunks(join(tmp, f.path), f);
    emit({ type: 'progress', done: i + 1, total: result.files.length, what: 'files written' });
  }
  await rm(spec.out, { recursive: true, force: true });
  await rename(tmp, spec.out);
  const how = result.grid ? `, ${result.grid.grid.bits}-bit grid from ${result.grid.from}` : '';
  emit({ type: 'log', level: 'info', message: `wrote ${join(spec.out, 'onnx', result.onnxFile)} (${result.modelBytes} bytes${how})` });
  emit({ type: 'state', state: 'finished' });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    const err = e as Error;
    process.stderr.write(`${err.stack ?? err.message}\n`);
    emit({ type: 'error', message: err.message, recoverable: false });
    emit({ type: 'state', state: 'failed' });
    process.exit(1);
  },
);
