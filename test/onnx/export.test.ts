/**
 * `retort export` against independent references, on ONNX Runtime's CPU EP (onnxruntime-node):
 * fp32/fp16 logits vs the torch worker's model (Qwen2, Qwen3, Llama); q8/q4 logits vs the torch worker's model with
 * qat.py's fake quantization on the same grid (so the exporter's grid is checked against qat.py's,
 * not against itself); the KV-cache path vs the full sequence; the transformers.js folder layout.
 * KL(full ‖ quantized) per token is printed and bounded.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { relErr } from '../helpers/numeric.ts';
import { exportCommand } from '../../src/cli/export.ts';
import { exportOnnx, ONNX_FILE } from '../../src/onnx/export.ts';
import { concat } from '../../src/onnx/proto.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { openOnnxCausalLM } from '../../src/onnx/ort-node.ts';
import { perTokenKl } from '../../src/onnx/compare.ts';
import type { ExportDtype } from '../../src/core/schema/export.ts';
import type { QatConfig } from '../../src/core/schema/adapters.ts';
import { torchJson } from '../helpers/python.ts';
import { tinyCheckpointFiles, tinySpec } from '../helpers/tiny-checkpoint.ts';

const DEMO = 'public/models/demo-student';
const IDS = [130, 17, 4, 9, 22, 3, 41, 8, 12, 99, 7, 31];

/** Every reference logits request, answered by one Python process at the start (torch imports take seconds). */
interface RefJob { dir: string; ids: number[]; grid: QatConfig | null; fp16: boolean }
const TORCH_REF = `
import json, sys, torch
from retort_torch.model import load_model
from retort_torch.qat import apply_qat
from retort_torch.spec import Qat
out = []
for job in json.load(sys.stdin):
    model = load_model(job["dir"]).eval()
    with torch.no_grad():
        if job["fp16"]:
            for name, p in model.named_parameters():
                if p.dim() == 2:
                    p.copy_(p.half().float())
        if job["grid"]:
            g = job["grid"]
            apply_qat(model, Qat(g["bits"], g["groupSize"], g["symmetric"], g["perChannel"]))
        out.append(model(torch.tensor([job["ids"]])).logits[0].flatten().tolist())
print(json.dumps(out))
`;

const jobs: RefJob[] = [];
let answers: number[][] | null = null;
/** Registers a reference request; the value is read after `runReferences()`. */
function torchLogits(dir: string, ids: number[], opts: { grid?: QatConfig; fp16?: boolean } = {}): () => Float64Array {
  const i = jobs.push({ dir, ids, grid: opts.grid ?? null, fp16: !!opts.fp16 }) - 1;
  return () => Float64Array.from(answers![i]);
}
function runReferences(): void {
  answers = torchJson<number[][]>(TORCH_REF, jobs);
}


async function exportTo(model: string, dtype: ExportDtype, extra: string[] = []): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), `retort-onnx-${dtype}-`));
  expect(await exportCommand(['--model', model, '--dtype', dtype, '--out', out, ...extra])).toBe(0);
  return out;
}

async function onnxLogits(dir: string, dtype: ExportDtype, ids: number[]): Promise<Float32Array> {
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, number>;
  const lm = await openOnnxCausalLM(join(dir, 'onnx', ONNX_FILE[dtype]), {
    layers: config.num_hidden_layers, kvHeads: config.num_key_value_heads, headDim: config.head_dim ?? config.hidden_size / config.num_attention_heads,
  });
  return (await lm.logits(ids)).data;
}

const Q8: QatConfig = { bits: 8, groupSize: 128, symmetric: true, perChannel: true };
const Q4: QatConfig = { bits: 4, groupSize: 32, symmetric: true, perChannel: true };

/** A tiny checkpoint of another architecture, written in TypeScript (no Python start-up). */
async function tinyModel(arch: 'qwen3' | 'llama'): Promise<string> {
  const spec = tinySpec(arch, {
    intermediate: 64, // int4 groups of 32 along every input dimension
    ...(arch === 'llama' ? { ropeScaling: { type: 'linear' as const, factor: 2 } } : {}),
  });
  const dir = mkdtempSync(join(tmpdir(), `retort-tiny-${arch}-`));
  for (const [name, data] of await tinyCheckpointFiles(spec, { seed: 7 })) writeFileSync(join(dir, name), data);
  return dir;
}

interface Case {
  label: string;
  dir: string;
  dtype: ExportDtype;
  ids: number[];
  got: Float32Array;
  want: () => Float64Array;
}

const cases: Case[] = [];
const demoFull: { logits?: Float32Array } = {};

beforeAll(async () => {
  const demo = async (label: string, dtype: ExportDtype, extra: string[], ref: { grid?: QatConfig; fp16?: boolean }) => {
    const out = await exportTo(DEMO, dtype, extra);
    cases.push({ label, dir: out, dtype, ids: IDS, got: await onnxLogits(out, dtype, IDS), want: torchLogits(DEMO, IDS, ref) });
  };
  await demo('demo fp32', 'fp32', [], {});
  await demo('demo fp16', 'fp16', [], { fp16: true });
  await demo('demo q8 symmetric', 'q8', [], { grid: Q8 });
  await demo('demo q8 asymmetric', 'q8', ['--asymmetric'], { grid: { ...Q8, symmetric: false } });
  await demo('demo q4 symmetric', 'q4', [], { grid: Q4 });
  await demo('demo q4 asymmetric', 'q4', ['--asymmetric'], { grid: { ...Q4, symmetric: false } });
  demoFull.logits = cases[0].got;
  for (const arch of ['qwen3', 'llama'] as const) {
    const model = await tinyModel(arch);
    const ids = [1, 5, 9, 2, 7, 3, 8];
    for (const [dtype, grid] of [['fp32', undefined], ['q4', Q4]] as const) {
      const out = await exportTo(model, dtype);
      cases.push({ label: `${arch} ${dtype}`, dir: out, dtype, ids, got: await onnxLogits(out, dtype, ids), want: torchLogits(model, ids, { grid }) });
    }
  }
  runReferences();
}, 180_000);

const byLabel = (label: string) => cases.find((c) => c.label === label)!;

describe('retort export', () => {
  it('writes the transformers.js layout', () => {
    const { dir } = byLabel('demo q4 symmetric');
    for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_q4.onnx']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
  });

  it('logits on ORT (CPU) match the torch worker: fp32, fp16-rounded weights, q8/q4 through qat.py on the same grid; Qwen2, Qwen3, Llama', () => {
    let worst = 0;
    for (const c of cases) {
      const err = relErr(c.got, c.want()).rel;
      console.log(`${c.label.padEnd(26)} ONNX vs torch: max rel err ${err.toExponential(2)}`);
      worst = Math.max(worst, err);
    }
    console.log(`worst ${worst.toExponential(2)} over ${cases.length} exports`);
    expect(worst).toBeLessThan(1e-5);
  });

  it('quantized exports differ from the full model; KL(full ‖ quantized) per token is reported and bounded', () => {
    const full = demoFull.logits!;
    const V = full.length / IDS.length;
    for (const [label, limit] of [['demo fp16', 1e-5], ['demo q8 symmetric', 1e-3], ['demo q8 asymmetric', 1e-3], ['demo q4 symmetric', 0.05], ['demo q4 asymmetric', 0.05]] as const) {
      const kl = perTokenKl(full, byLabel(label).got, V);
      const mean = kl.reduce((a, b) => a + b, 0) / kl.length;
      console.log(`KL(full ‖ ${label.slice(5)}) per token: mean ${mean.toExponential(2)}, max ${Math.max(...kl).toExponential(2)}`);
      expect(mean, label).toBeGreaterThan(0);
      expect(Math.max(...kl), label).toBeLessThan(limit);
    }
  });

  it('a QAT-trained checkpoint exports on the grid it trained with (torch manifest.json, engine run_manifest.json)', async () => {
    const trained = mkdtempSync(join(tmpdir(), 'retort-qat-ckpt-'));
    cpSync(DEMO, trained, { recursive: true });
    const asymmetric = byLabel('demo q4 asymmetric');
    for (const manifest of ['manifest.json', 'run_manifest.json']) {
      rmSync(join(trained, 'manifest.json'), { force: true });
      writeFileSync(join(trained, manifest), JSON.stringify({ spec: { kind: 'distill', qat: { bits: 4, groupSize: 32, symmetric: false } }, step: 10 }));
      const result = await exportOnnx(new NodeFileSource(), trained, { dtype: 'q4' });
      expect(result.grid, manifest).toEqual({ grid: { bits: 4, groupSize: 32, symmetric: false, perChannel: true }, from: 'qat' });
      // byte for byte the model the asymmetric option wrote (and the torch check above covered)
      expect(concat(result.files.find((f) => f.path === 'onnx/model_q4.onnx')!.chunks)).toEqual(new Uint8Array(readFileSync(join(asymmetric.dir, 'onnx/model_q4.onnx'))));
      // another bit width than the training's: the default grid, said so
      expect((await exportOnnx(new NodeFileSource(), trained, { dtype: 'q8' })).grid?.from).toBe('default');
    }
  });

  it('greedy decoding through the KV cache equals recomputing the whole sequence at every step', async () => {
    const { dir, dtype } = byLabel('qwen3 q4');
    const lm = await openOnnxCausalLM(join(dir, 'onnx', ONNX_FILE[dtype]), { layers: 2, kvHeads: 2, headDim: 8 });
    const prompt = [1, 5, 9];
    const cached = await lm.greedy(prompt, 8);
    const seq = [...prompt];
    for (let i = 0; i < 8; i++) {
      const { data, vocab } = await lm.logits(seq);
      const last = data.subarray((seq.length - 1) * vocab, seq.length * vocab);
      seq.push(last.indexOf(Math.max(...last)));
    }
    console.log(`greedy with cache ${cached.ids.join(',')}; recomputed ${seq.slice(prompt.length).join(',')}`);
    expect(cached.ids).toEqual(seq.slice(prompt.length));
  });
});
