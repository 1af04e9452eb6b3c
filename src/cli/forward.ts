import { parseCommand, parseIds, num } from './args.ts';
import { openModel } from './open-model.ts';
import { writeSafetensors } from '../core/safetensors.ts';
import { writeFile } from 'node:fs/promises';
import { logSoftmax } from '../engine/session/probe.ts';

const HELP = `usage: retort forward --model DIR (--text "…" | --ids 1,2,3) [--top-k N] [--save-logits FILE.safetensors]

Runs the model on the tokens and prints the top-k next tokens after the last one.
  --save-logits   writes the float32 logits [T, vocab] as tensor "logits"`;

export async function forwardCommand(argv: string[]): Promise<number> {
  const o = parseCommand('forward', argv, {
    model: { type: 'string' }, text: { type: 'string' }, ids: { type: 'string' },
    'top-k': { type: 'string' }, 'save-logits': { type: 'string' },
  }, HELP);
  if (!o) return 0;
  if (!o.model) throw new Error(`--model is required\n\n${HELP}`);
  if (!o.text === !o.ids) throw new Error(`give exactly one of --text or --ids\n\n${HELP}`);
  const { rt, model, tokenizer } = await openModel(o.model, { needTokenizer: !!o.text });
  const ids = o.ids ? parseIds(o.ids, '--ids') : Int32Array.from(tokenizer!.encode(o.text!));
  const topK = num(o['top-k'], '--top-k', 10);
  const T = ids.length;
  const { hidden } = model.forward(ids, 1, T);
  const logitsT = model.logits(hidden); // [T, Vpad]
  const all = await rt.readF32(logitsT);
  const V = model.spec.vocabSize;
  const vocab = tokenizer ? Math.min(tokenizer.size, V) : V;
  const last = all.subarray((T - 1) * V, (T - 1) * V + vocab);
  const top = topKOf(last, topK);
  const logp = logSoftmax(last, 1);
  console.log(`next-token top-${topK} after ${T} tokens (${model.spec.arch}, vocab ${vocab}):`);
  for (const { id, logit } of top) {
    const tok = tokenizer ? JSON.stringify(tokenizer.decodeToken(id)) : '';
    console.log(`  ${String(id).padStart(7)}  p=${Math.exp(logp[id]).toFixed(5)}  logit=${logit.toFixed(4)}  ${tok}`);
  }
  if (o['save-logits']) {
    const sliced = new Float32Array(T * vocab);
    for (let t = 0; t < T; t++) sliced.set(all.subarray(t * V, t * V + vocab), t * vocab);
    await writeFile(o['save-logits'], writeSafetensors({ logits: { dtype: 'F32', shape: [T, vocab], data: sliced } }));
    console.log(`wrote logits [${T}, ${vocab}] to ${o['save-logits']}`);
  }
  return 0;
}

export function topKOf(row: ArrayLike<number>, k: number): { id: number; logit: number }[] {
  const idx = Array.from({ length: row.length }, (_, i) => i);
  idx.sort((a, b) => row[b] - row[a]);
  return idx.slice(0, k).map((id) => ({ id, logit: row[id] }));
}
