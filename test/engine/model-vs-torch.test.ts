import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { relErr } from '../helpers/numeric.ts';
import { makeTiny, tempDir, torchModule } from '../helpers/torch-worker.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { SafetensorsFile } from '../../src/core/safetensors.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';

const files = new NodeFileSource();
const IDS = [3, 17, 42, 99, 5, 64, 7, 120, 33, 2, 88];

async function torchForward(dir: string, ids: number[]) {
  const out = join(tempDir(), 'ref.safetensors');
  torchModule('reference', ['forward', '--model', dir, '--ids', ids.join(','), '--out', out]);
  return SafetensorsFile.fromBytes(new Uint8Array(readFileSync(out)));
}

describe('decoder forward vs the torch worker model (fp32, target ≤ 1e-4 relative)', () => {
  const cases: [string, 'qwen2' | 'qwen3' | 'llama', string[]][] = [
    ['qwen2 (q/k/v bias, GQA)', 'qwen2', []],
    ['qwen2 tied embeddings', 'qwen2', ['--tie']],
    ['qwen3 (q/k norm, head_dim ≠ hidden/heads)', 'qwen3', ['--head-dim', '24']],
    ['llama (biases, llama3 rope scaling)', 'llama', ['--rope-scaling', '{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":8}']],
  ];
  for (const [title, arch, extra] of cases) {
    it(title, async () => {
      const rt = await gpu();
      const dir = makeTiny(arch, 7, extra);
      const model = new Decoder(rt, await loadWeights(rt, files, dir));
      const { hidden } = model.forward(Int32Array.from(IDS), 1, IDS.length);
      const logits = model.logits(hidden);
      const got = await rt.readF32(logits);
      const ref = await (await torchForward(dir, IDS)).float32('logits');
      const { rel, abs } = relErr(got, ref);
      console.log(`${title}: logits max abs ${abs.toExponential(2)}, rel ${rel.toExponential(2)}`);
      expect(rel).toBeLessThan(1e-4);
      hidden.dispose();
      logits.dispose();
      model.dispose();
    });
  }

  it('batched rows give the same logits as single rows', async () => {
    const rt = await gpu();
    const dir = makeTiny('qwen2', 3);
    const model = new Decoder(rt, await loadWeights(rt, files, dir));
    const T = 6;
    const a = IDS.slice(0, T), b = IDS.slice(3, 3 + T);
    const both = model.forward(Int32Array.from([...a, ...b]), 2, T);
    const lb = await rt.readF32(model.logits(both.hidden));
    const single = model.forward(Int32Array.from(b), 1, T);
    const ls = await rt.readF32(model.logits(single.hidden));
    const V = model.spec.vocabSize;
    expect(relErr(lb.subarray(T * V), ls).rel).toBeLessThan(1e-5);
  });
});
