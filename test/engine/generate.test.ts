import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { gpu } from '../helpers/gpu.ts';
import { makeTiny } from '../helpers/torch-worker.ts';
import { runPython } from '../helpers/python.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { loadWeights } from '../../src/engine/model/weights.ts';
import { Decoder } from '../../src/engine/model/decoder.ts';
import { generate } from '../../src/engine/generate.ts';

describe('KV-cache generation', () => {
  it('greedy decoding gives the torch worker’s tokens (qwen3, GQA)', async () => {
    const rt = await gpu();
    const dir = makeTiny('qwen3', 21);
    const prompt = [4, 19, 77, 3, 50];
    const model = new Decoder(rt, await loadWeights(rt, new NodeFileSource(), dir));
    const ours: number[] = [];
    for await (const id of generate(model, Int32Array.from(prompt), { temperature: 0, maxNewTokens: 12 })) ours.push(id);
    const theirs = runPython<number[]>(`
      import sys, torch
      sys.path.insert(0, ${JSON.stringify(resolve('src/runner/torch'))})
      from retort_torch.model import load_model
      from retort_torch.generate import generate
      m = load_model(inp["dir"]); m.eval()
      with torch.no_grad():
          out_ids = generate(m, torch.tensor([inp["prompt"]]), 12, temperature=0.0)
      ids = out_ids[0].tolist() if torch.is_tensor(out_ids) else out_ids[0]
      out(ids[len(inp["prompt"]):] if len(ids) > 12 else ids)
    `, { dir, prompt });
    console.log(`engine ${ours.join(',')}\ntorch  ${theirs.join(',')}`);
    expect(ours).toEqual(theirs);
    model.dispose();
  });

  it('the cached decode equals a full forward at every step', async () => {
    const rt = await gpu();
    const dir = makeTiny('qwen2', 5);
    const model = new Decoder(rt, await loadWeights(rt, new NodeFileSource(), dir));
    const prompt = Int32Array.from([8, 1, 30, 2]);
    const ids: number[] = Array.from(prompt);
    for await (const id of generate(model, prompt, { temperature: 0, maxNewTokens: 6 })) ids.push(id);
    // Re-derive each greedy token from a full (uncached) forward over the prefix.
    for (let t = prompt.length; t < ids.length; t++) {
      const { hidden } = model.forward(Int32Array.from(ids.slice(0, t)), 1, t);
      const logits = await rt.readF32(model.logits(hidden));
      const V = model.spec.vocabSize;
      const row = logits.subarray((t - 1) * V, t * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i] > row[best]) best = i;
      expect(ids[t]).toBe(best);
    }
    model.dispose();
  });
});
