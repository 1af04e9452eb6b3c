/**
 * Quantized decode bench: the q4 student through transformers.js on ONNX Runtime Web's WebGPU EP vs
 * the engine at fp32, in the same page (bench.html's ONNX worker holds both), same adapter, same run,
 * same prompt; prefill and decode tokens/s and their ratios. Results go to bench/results/quant-decode.json.
 *
 *   node bin/run-ts.mjs bench/quant-decode.ts [--model DIR] [--dtype q4|q8|fp16|fp32] [--prompt-tokens N]
 *                                             [--new-tokens N] [--reps N] [--out FILE]
 *
 * It builds bench.html alone into a private folder (never the shared dist/), exports the model into
 * it, serves it and drives the worker from Chromium (WebGPU; SwiftShader where there is no GPU).
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { exportCommand } from '../src/cli/export.ts';
import { ExportDtypeSchema, type ExportDtype } from '../src/core/schema/export.ts';
import type { OnnxLoadInfo, SpeedResult } from '../workers/onnx.worker.ts';
import { openPage } from '../test/e2e/browser.ts';
import { buildBenchOnly } from './build.ts';

interface Args {
  model: string;
  dtype: ExportDtype;
  promptTokens: number;
  newTokens: number;
  reps: number;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { model: 'public/models/demo-student', dtype: 'q4', promptTokens: 32, newTokens: 32, reps: 3, out: 'bench/results/quant-decode.json' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (v === undefined) throw new Error(`quant-decode: ${flag} needs a value`);
    const count = () => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw new Error(`quant-decode: ${flag} must be a positive integer, got ${v}`);
      return n;
    };
    if (flag === '--model') a.model = v;
    else if (flag === '--dtype') a.dtype = ExportDtypeSchema.parse(v);
    else if (flag === '--prompt-tokens') a.promptTokens = count();
    else if (flag === '--new-tokens') a.newTokens = count();
    else if (flag === '--reps') a.reps = count();
    else if (flag === '--out') a.out = v;
    else throw new Error(`quant-decode: unknown argument ${flag} (see the header of bench/quant-decode.ts)`);
  }
  return a;
}

interface BenchWindow {
  onnx: {
    loadEngine(folder: string): Promise<{ adapter: string; bytes: number }>;
    load(req: { folder: string; dtype: ExportDtype }): Promise<OnnxLoadInfo>;
    speed(req: { ids: number[]; maxNewTokens: number; reps: number }): Promise<SpeedResult>;
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const model = resolve(args.model);
  const out = resolve(args.out);
  const root = await buildBenchOnly();
  process.chdir(root); // openPage serves ./dist
  // One served folder holds both: the checkpoint (the engine's weights) and its export in onnx/.
  const folder = 'onnx-bench/model';
  cpSync(model, join('dist', folder), { recursive: true });
  await exportCommand(['--model', model, '--dtype', args.dtype, '--out', join('dist', folder)]);

  const s = await openPage('/bench.html');
  try {
    await s.page.waitForFunction(() => 'onnx' in window, null, { timeout: 60_000 });
    const ids = Array.from({ length: args.promptTokens }, (_, i) => 2 + ((i * 37) % 120));
    const r = await s.page.evaluate(async ({ folder, dtype, ids, newTokens, reps }) => {
      const { onnx } = window as unknown as BenchWindow;
      const engine = await onnx.loadEngine(folder);
      const info = await onnx.load({ folder, dtype });
      const speed = await onnx.speed({ ids, maxNewTokens: newTokens, reps });
      return { engine, info, speed };
    }, { folder, dtype: args.dtype, ids, newTokens: args.newTokens, reps: args.reps });
    const { engine, onnx } = r.speed;
    const lines = [
      `adapter: ${r.engine.adapter}; ONNX on ${r.info.device}${r.info.fallback ? ` (${r.info.fallback})` : ''}; prompt ${args.promptTokens} tokens, ${args.newTokens} new, ${args.reps} reps after a warm-up`,
      '',
      '| model | bytes | prefill tok/s | decode tok/s |',
      '| --- | ---: | ---: | ---: |',
      `| ${engine.label} | ${r.engine.bytes} | ${engine.prefillTokensPerSecond.toFixed(1)} | ${engine.decodeTokensPerSecond.toFixed(1)} |`,
      `| ${onnx.label} | ${r.info.bytes} | ${onnx.prefillTokensPerSecond.toFixed(1)} | ${onnx.decodeTokensPerSecond.toFixed(1)} |`,
      '',
      `ratio ${args.dtype}/engine: prefill ${(onnx.prefillTokensPerSecond / engine.prefillTokensPerSecond).toFixed(2)}×, decode ${(onnx.decodeTokensPerSecond / engine.decodeTokensPerSecond).toFixed(2)}×`,
    ];
    console.log(lines.join('\n'));
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), args, ...r }, null, 2) + '\n');
    console.log(`\nwrote ${out}`);
  } finally {
    await s.close();
  }
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
