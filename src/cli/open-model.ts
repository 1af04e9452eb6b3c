import { NodeFileSource } from './node-files.ts';
import { nodeRuntime } from './dawn.ts';
import { loadWeights, type WeightDtype } from '../engine/model/weights.ts';
import { Decoder } from '../engine/model/decoder.ts';
import { loadTokenizer, checkVocabCompatibility, type Tokenizer } from '../core/tokenizer.ts';
import type { Runtime } from '../engine/runtime.ts';

export interface OpenedModel {
  rt: Runtime;
  model: Decoder;
  tokenizer: Tokenizer | null;
}

/** A model folder in HF layout on the engine in Node; the tokenizer when the folder has one. */
export async function openModel(dir: string, opts: { needTokenizer?: boolean; dtype?: WeightDtype; rt?: Runtime } = {}): Promise<OpenedModel> {
  const files = new NodeFileSource();
  const rt = opts.rt ?? (await nodeRuntime());
  const model = new Decoder(rt, await loadWeights(rt, files, dir, opts.dtype ?? 'f32'));
  let tokenizer: Tokenizer | null = null;
  if (await files.exists(`${dir}/tokenizer.json`)) {
    tokenizer = await loadTokenizer(files, dir);
    checkVocabCompatibility(tokenizer, model.spec, `${dir}/config.json`);
  } else if (opts.needTokenizer) {
    throw new Error(`${dir}/tokenizer.json not found: pass --ids instead of text`);
  }
  return { rt, model, tokenizer };
}
