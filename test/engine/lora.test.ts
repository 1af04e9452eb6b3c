import { describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/numeric.ts';
import { makeTiny, tempDir } from '../helpers/torch-worker.ts';
import { runPython } from '../helpers/python.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { MapFileSource } from '../../src/core/files.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { LoraAdapters } from '../../src/engine/model/lora.ts';
import { checkpointFiles } from '../../src/engine/model/save.ts';
import { DistillStep } from '../../src/engine/train/distill-step.ts';

const files = new NodeFileSource();
const IDS = [5, 9, 33, 71, 12, 4, 90, 17, 2, 40];

async function logitsOf(model: Decoder): Promise<Float32Array> {
  const { hidden } = model.forward(Int32Array.from(IDS), 1, IDS.length);
  const l = await model.rt.readF32(model.logits(hidden));
  hidden.dispose();
  return l;
}

describe('LoRA', () => {
  it('an untrained adapter (B = 0) leaves the logits unchanged; a trained one saved in PEFT layout gives the torch worker the same logits', async () => {
    const rt = await gpu();
    const dir = makeTiny('qwen2', 31);
    const student = new Decoder(rt, await loadWeights(rt, files, dir));
    const teacher = new Decoder(rt, await loadWeights(rt, files, makeTiny('qwen2', 32)));
    const base = await logitsOf(student);
    student.lora = LoraAdapters.create(rt, student.spec, { rank: 4, alpha: 8, dropout: 0, targetModules: ['q_proj', 'v_proj', 'down_proj'] }, 1);
    expect(relErr(await logitsOf(student), base).abs).toBe(0);

    // Two steps of LoRA-only training: base weights frozen, adapters move.
    const frozen = await rt.readF32(student.w('model.layers.0.self_attn.q_proj.weight'));
    const step = new DistillStep(rt, student, teacher, student.lora.parameters(), student.spec.vocabSize, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1 });
    const labels = Int32Array.from(IDS, (_, i) => (i + 1 < IDS.length ? IDS[i + 1] : -1));
    const losses: number[] = [];
    for (let i = 0; i < 3; i++) {
      step.micro({ ids: Int32Array.from(IDS), labels, B: 1, T: IDS.length }, { divergence: 'forward-kl', alpha: 0.8, temperature: 2, beta: 0.5, lambda: 0.1 }, IDS.length - 1);
      losses.push((await step.apply(5e-2)).loss);
    }
    console.log(`LoRA-only training: ${losses.map((l) => l.toFixed(4)).join(' → ')}`);
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(await rt.readF32(student.w('model.layers.0.self_attn.q_proj.weight'))).toEqual(frozen);
    const tuned = await logitsOf(student);
    expect(relErr(tuned, base).rel).toBeGreaterThan(1e-4);

    // Save as PEFT, load in PyTorch on top of the same base: same logits.
    const out = join(tempDir(), 'adapter');
    mkdirSync(out);
    for (const [name, bytes] of await checkpointFiles(student, {}, dir)) writeFileSync(join(out, name), bytes);
    const cfg = JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: ['q_proj', 'v_proj', 'down_proj'] });
    const torchLogits = runPython<number[]>(`
      import sys, torch
      sys.path.insert(0, ${JSON.stringify(resolve('src/runner/torch'))})
      from retort_torch.model import load_model, load_lora
      m = load_model(inp["base"]); load_lora(m, inp["adapter"]); m.eval()
      with torch.no_grad():
          out(m(torch.tensor([inp["ids"]])).logits[0].flatten().tolist())
    `, { base: dir, adapter: out, ids: IDS });
    const { rel } = relErr(tuned, torchLogits);
    console.log(`PEFT adapter: engine vs torch logits rel ${rel.toExponential(2)}`);
    expect(rel).toBeLessThan(1e-4);

    // And back into the engine from the PEFT files.
    const reloaded = new Decoder(rt, await loadWeights(rt, files, dir));
    reloaded.lora = await LoraAdapters.load(rt, reloaded.spec, files, out);
    expect(relErr(await logitsOf(reloaded), tuned).rel).toBeLessThan(1e-6);
    step.dispose();
  });

  it('refuses an adapter whose tensor shapes do not fit the model, naming the tensor', async () => {
    const rt = await gpu();
    const dir = makeTiny('qwen2', 33);
    const model = new Decoder(rt, await loadWeights(rt, files, dir));
    const lora = LoraAdapters.create(rt, { ...model.spec, hidden: model.spec.hidden }, { rank: 2, alpha: 4, dropout: 0, targetModules: ['q_proj'] }, 1);
    model.lora = lora;
    const saved = await checkpointFiles(model);
    const cfg = JSON.parse(new TextDecoder().decode(saved.get('adapter_config.json')!));
    saved.set('adapter_config.json', new TextEncoder().encode(JSON.stringify({ ...cfg, r: 3 })));
    await expect(LoraAdapters.load(rt, model.spec, new MapFileSource(saved), '')).rejects.toThrow(/adapter_model\.safetensors.*lora_A\.weight.*shape \[2,\d+\] ≠ \[3,\d+\]/);
  });
});
