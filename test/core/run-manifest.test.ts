/**
 * One run-manifest format for both trainers: the engine's checkpoint (retort distill on Dawn) carries a
 * run_manifest.json that the TypeScript schema and the torch worker's Python parser
 * (retort_torch/run_manifest.py) both accept, and the two reject the same broken manifests. The torch
 * worker's side (its manifest through the TS schema) is in test/runner/torch-worker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/torch-worker.ts';
import { runPython } from '../helpers/python.ts';
import { distillJson, tinyWithDemoTokenizer } from '../helpers/distill-cli.ts';
import { RUN_MANIFEST_FILE, parseRunManifest } from '../../src/core/run-manifest.ts';
import { datasetHash } from '../../src/core/dataset.ts';

const data = { path: resolve('public/data/arith/val.jsonl'), format: 'chat', maxSeqLen: 32 };

/** What Python's run_manifest.read says of each folder: 'ok' or its error message. */
function pythonVerdicts(dirs: string[]): string[] {
  return runPython<string[]>(`
    import sys
    sys.path.insert(0, ${JSON.stringify(resolve('src/runner/torch'))})
    from retort_torch import run_manifest
    verdicts = []
    for d in inp:
        try:
            run_manifest.read(d)
            verdicts.append("ok")
        except run_manifest.ManifestError as e:
            verdicts.append(str(e))
    out(verdicts)
  `, dirs);
}

describe('run manifest', () => {
  it('the engine writes one that both the TS schema and the Python parser accept; both refuse the same broken ones', { timeout: 300_000 }, async () => {
    const work = tempDir('run-manifest-');
    const config = join(work, 'two-stages.json');
    writeFileSync(config, JSON.stringify({
      kind: 'distill', seed: 11,
      teacher: { path: tinyWithDemoTokenizer(61) }, student: { path: tinyWithDemoTokenizer(61) }, // what it trains does not matter here
      batch: { microBatch: 1, gradAccumulation: 1 },
      stages: ['warm', 'hard'].map((name) => ({ name, data, stop: { steps: 1 } })),
      checkpoint: { everySteps: 1, keepLast: 3 },
    }));
    const { code, events } = await distillJson<{ type: string; path?: string }>(['--config', config, '--out', join(work, 'run')]);
    expect(code).toBe(0);
    const dirs = events.filter((e) => e.type === 'checkpoint').map((e) => e.path!);
    expect(dirs).toHaveLength(3); // after steps 1 and 2, and the final one
    const manifests = dirs.map((d) => parseRunManifest(readFileSync(join(d, RUN_MANIFEST_FILE), 'utf8'), d));
    const hash = datasetHash(readFileSync(data.path));
    // hand-known values: steps taken, the stage each checkpoint was in, the data each stage read so far
    expect(manifests.map((m) => [m.step, m.stage, m.stage_name, Object.keys(m.data).length])).toEqual([[1, 0, 'warm', 1], [2, 1, 'hard', 2], [2, 1, 'hard', 2]]);
    expect(manifests[0]).toMatchObject({ seed: 11, data: { 'stage-0': hash }, trainer: { engine: 'webgpu', world_size: 1 } });
    expect(manifests[0].code_version).toMatch(/^retort /);
    expect(manifests[0].spec.stages.map((s) => s.name)).toEqual(['warm', 'hard']);

    // Broken copies of the last one: each language must refuse each, naming the field.
    const good = JSON.parse(readFileSync(join(dirs[2], RUN_MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
    const broken: [string, Record<string, unknown>][] = [
      ['seed', { ...good, seed: undefined }],
      ['extra', { ...good, extra: 1 }],
      ['data.stage-0', { ...good, data: { 'stage-0': 'not a hash' } }],
      ['trainer.engine', { ...good, trainer: { engine: 'jax', runtime: '', world_size: 1 } }],
      ['spec', { ...good, spec: { ...(good.spec as object), kind: 'eval' } }],
      ['format', { ...good, format: 'retort-run-manifest/0' }],
    ];
    const folders = [dirs[2], ...broken.map(([field, m], i) => {
      const dir = tempDir(`run-manifest-bad-${i}-`);
      writeFileSync(join(dir, RUN_MANIFEST_FILE), JSON.stringify(m));
      return [field, dir] as const;
    }).map(([, dir]) => dir)];
    const verdicts = pythonVerdicts(folders);
    console.log(`python on the engine's manifest: ${verdicts[0]}; on the broken ones:\n  ${verdicts.slice(1).join('\n  ')}`);
    expect(verdicts[0]).toBe('ok');
    for (const [i, [field]] of broken.entries()) {
      expect(verdicts[i + 1], field).toContain(field);
      expect(() => parseRunManifest(readFileSync(join(folders[i + 1], RUN_MANIFEST_FILE), 'utf8'), folders[i + 1]), field).toThrow(field);
    }
  });
});
