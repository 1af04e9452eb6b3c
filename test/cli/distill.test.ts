import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { relErr } from '../helpers/numeric.ts';
import { tempDir } from '../helpers/torch-worker.ts';
import { runPython } from '../helpers/python.ts';
import { openModel } from '../../src/cli/open-model.ts';
import { gpu } from '../helpers/gpu.ts';
import { distillJson, tinyWithDemoTokenizer } from '../helpers/distill-cli.ts';

describe('retort distill', () => {
  it('runs a config end to end and writes an HF checkpoint that PyTorch loads with the same logits', { timeout: 400_000 }, async () => {
    const work = tempDir('distill-cli-');
    const config = join(work, 'kd.json');
    writeFileSync(config, JSON.stringify({
      kind: 'distill',
      teacher: { path: tinyWithDemoTokenizer(41) },
      student: { path: tinyWithDemoTokenizer(42) },
      seed: 3,
      batch: { microBatch: 2, gradAccumulation: 1 },
      optimizer: { lr: 0.003, schedule: { kind: 'constant', warmupSteps: 0, minLrRatio: 1 } },
      stages: [{
        name: 'kd',
        data: { path: resolve('public/data/arith/val.jsonl'), format: 'chat', maxSeqLen: 64 },
        loss: { divergence: 'forward-kl', alpha: 0.7, temperature: { kind: 'constant', value: 2 } },
        stop: { steps: 2 },
      }],
      checkpoint: { everySteps: 1, keepLast: 2 },
    }));
    const { code, events } = await distillJson<{ type: string; step?: number; loss?: number; path?: string }>(['--config', config, '--out', join(work, 'run')]);
    expect(code).toBe(0);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([0, 1]);
    for (const s of steps) expect(Number.isFinite(s.loss)).toBe(true);
    const ckpt = events.filter((e) => e.type === 'checkpoint').at(-1)!.path!;
    expect(readdirSync(ckpt).sort()).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'run_manifest.json', 'tokenizer.json', 'tokenizer_config.json']));
    expect(existsSync(join(work, 'run', 'checkpoints', '.tmp-step-2'))).toBe(false);

    // The checkpoint in PyTorch (the torch worker's model) and in the engine: same logits.
    const ids = [3, 7, 11, 5, 9, 2];
    const rt = await gpu();
    const { model } = await openModel(ckpt, { rt });
    const { hidden } = model.forward(Int32Array.from(ids), 1, ids.length);
    const ours = await rt.readF32(model.logits(hidden));
    const theirs = runPython<number[]>(`
      import sys, torch
      sys.path.insert(0, ${JSON.stringify(resolve('src/runner/torch'))})
      from retort_torch.model import load_model
      m = load_model(inp["dir"]); m.eval()
      with torch.no_grad():
          out(m(torch.tensor([inp["ids"]])).logits[0].flatten().tolist())
    `, { dir: ckpt, ids });
    const { rel } = relErr(ours, theirs);
    console.log(`distilled checkpoint: engine vs torch logits rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-4);
  });
});
