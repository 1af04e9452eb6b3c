import { join, resolve, dirname, basename } from 'node:path';
import { readdirSync, statSync } from 'node:fs';
import { num, parseCommand } from './args.ts';
import { NodeFileSource } from './node-files.ts';
import { openModel } from './open-model.ts';
import { ExportDtypeSchema } from '../core/schema/export.ts';
import { checkOnnxFolder } from '../onnx/check.ts';
import { chatProblems, compareModels, type Comparison, type ModelScore } from '../onnx/compare.ts';
import { engineLM } from '../onnx/engine-lm.ts';
import { configureLocal, loadOnnxModel, transformersLM } from '../onnx/transformers-lm.ts';

const HELP = `usage: retort quant-compare --model CHECKPOINT --onnx DIR --dtype fp32|fp16|q8|q4 [options]

Full vs exported: the checkpoint on the engine (fp32, WebGPU through Dawn) against DIR's ONNX model
(transformers.js on ONNX Runtime's CPU EP in Node) on the first problems of a chat JSONL set:
per-token KL(full ‖ exported) on the reference replies, exact-match accuracy of greedy answers
(\\boxed{} checked by src/core/answers.ts), perplexity, model bytes, prefill and decode tokens/s.
In the browser the playground runs the same comparison on ORT-web's WebGPU EP.
  --dataset FILE       chat JSONL with "answer" (default public/data/arith/test.jsonl)
  --limit N            problems (default 20)
  --max-new-tokens N   per answer (default 96)
  --json               print the result as JSON`;

/** Bytes of a checkpoint's safetensors files (one or sharded). */
function weightBytes(dir: string): number {
  return readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
}

function row(s: ModelScore): string {
  return `| ${s.label} | ${(s.bytes / 2 ** 10).toFixed(1)} KiB | ${(100 * s.accuracy).toFixed(1)}% | ${s.perplexity.toFixed(4)} | ${s.prefillTokensPerSecond.toFixed(1)} | ${s.decodeTokensPerSecond.toFixed(1)} |`;
}

export function comparisonTable(c: Comparison): string {
  return [
    `| model | bytes | exact match (${c.problems}) | perplexity | prefill tok/s | decode tok/s |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    row(c.full),
    row(c.quantized),
    '',
    `KL(full ‖ ${c.quantized.label}) per token: mean ${c.klMean.toExponential(3)}, max ${c.klMax.toExponential(3)}`,
  ].join('\n');
}

export async function quantCompareCommand(argv: string[]): Promise<number> {
  const o = parseCommand('quant-compare', argv, {
    model: { type: 'string' }, onnx: { type: 'string' }, dtype: { type: 'string' }, dataset: { type: 'string' },
    limit: { type: 'string' }, 'max-new-tokens': { type: 'string' }, json: { type: 'boolean' },
  }, HELP);
  if (!o) return 0;
  if (!o.model || !o.onnx || !o.dtype) throw new Error(`--model, --onnx and --dtype are required\n\n${HELP}`);
  const dtype = ExportDtypeSchema.safeParse(o.dtype);
  if (!dtype.success) throw new Error(`--dtype: "${o.dtype}" is not one of fp32, fp16, q8, q4`);
  const files = new NodeFileSource();
  const checked = await checkOnnxFolder(files, o.onnx, dtype.data);
  const { model, tokenizer } = await openModel(o.model, { needTokenizer: true });
  const dataset = o.dataset ?? 'public/data/arith/test.jsonl';
  const problems = chatProblems(await files.readText(dataset), dataset, tokenizer!, num(o.limit, '--limit', 20));

  const onnxDir = resolve(o.onnx);
  configureLocal(dirname(onnxDir));
  const onnx = await loadOnnxModel(basename(onnxDir), dtype.data, { device: 'cpu', fallback: null });
  const result = await compareModels(
    engineLM(model, `engine fp32 (${model.rt.env.adapter})`, weightBytes(o.model)),
    transformersLM(onnx, `onnx ${dtype.data}`, checked.bytes),
    problems,
    { maxNewTokens: num(o['max-new-tokens'], '--max-new-tokens', 96), stop: tokenizer!.eosIds, decode: (ids) => tokenizer!.decode(ids, { skipSpecial: true }) },
  );
  console.log(o.json ? JSON.stringify(result) : comparisonTable(result));
  return 0;
}
