/**
 * Exported students in headless Chromium on WebGPU, through transformers.js in the ONNX worker:
 * fp32 logits vs the engine's on the same weights (≤ 1e-4 relative), q8/q4 logits vs the same files on
 * ONNX Runtime's CPU EP in Node (the WebGPU MatMulNBits kernels against an independent implementation)
 * with KL(engine fp32 ‖ quantized) per token printed and bounded, and streamed generation.
 * The exports are written into dist/ before the page is served (vite preview serves what is there).
 */
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { relErr } from '../helpers/numeric.ts';
import { exportCommand } from '../../src/cli/export.ts';
import { ONNX_FILE } from '../../src/onnx/export.ts';
import { perTokenKl } from '../../src/onnx/compare.ts';
import { openOnnxCausalLM } from '../../src/onnx/ort-node.ts';
import type { ExportDtype } from '../../src/core/schema/export.ts';
import type { OnnxApi } from '../../workers/onnx.worker.ts';
import { openPage, type Session } from './browser.ts';

const MODEL = 'public/models/demo-student';
const FOLDER = 'onnx-e2e/demo-student'; // under dist/, as the page sees it
const DTYPES: ExportDtype[] = ['fp32', 'q8', 'q4'];
const IDS = [130, 17, 4, 9, 22, 3, 41, 8, 12, 99, 7, 31];

type Logits = { data: number[]; vocab: number };
interface OnnxWindow {
  onnx: { [K in keyof OnnxApi]: (...a: Parameters<OnnxApi[K]>) => Promise<Awaited<ReturnType<OnnxApi[K]>>> };
  onnxGenerate(req: { ids: number[]; maxNewTokens: number }): Promise<{ tokens: { id: number; text: string }[]; prefillSeconds: number; decodeSeconds: number }>;
}


describe('exported students in Chromium (transformers.js, ORT-web WebGPU)', () => {
  let s: Session;
  const browser: Partial<Record<ExportDtype, Logits>> = {};
  let engine: Logits;

  beforeAll(async () => {
    rmSync(join('dist', FOLDER), { recursive: true, force: true });
    for (const dtype of DTYPES) expect(await exportCommand(['--model', MODEL, '--dtype', dtype, '--out', join('dist', FOLDER)])).toBe(0);
    s = await openPage('/bench.html');
    await s.page.waitForFunction(() => 'onnx' in window, null, { timeout: 60_000 });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(join('dist', FOLDER), { recursive: true, force: true });
  });

  it('loads each dtype on the WebGPU EP (no fallback) and the engine on the same weights', async () => {
    const r = await s.page.evaluate(async ({ folder, dtypes, ids, model }) => {
      const { onnx } = window as unknown as OnnxWindow;
      const engineInfo = await onnx.loadEngine(model);
      const engine = await onnx.engineLogits(ids);
      const out: { dtype: string; info: unknown; logits: { data: number[]; vocab: number } }[] = [];
      for (const dtype of dtypes) {
        const info = await onnx.load({ folder, dtype });
        const l = await onnx.logits(ids);
        out.push({ dtype, info, logits: { data: Array.from(l.data), vocab: l.vocab } });
      }
      return { engineInfo, engine: { data: Array.from(engine.data), vocab: engine.vocab }, out };
    }, { folder: FOLDER, dtypes: DTYPES, ids: IDS, model: 'models/demo-student' });
    console.log(`engine adapter: ${r.engineInfo.adapter}`);
    engine = r.engine;
    for (const o of r.out) {
      console.log(`${o.dtype}: ${JSON.stringify(o.info)}`);
      expect(o.info).toMatchObject({ device: 'webgpu', fallback: null });
      browser[o.dtype as ExportDtype] = o.logits;
    }
  });

  it('fp32: ONNX logits equal the engine\'s within 1e-4 relative', () => {
    const err = relErr(browser.fp32!.data, engine.data).rel;
    console.log(`fp32 ONNX (WebGPU) vs engine (WebGPU): max rel err ${err.toExponential(2)}`);
    expect(err).toBeLessThan(1e-4);
  });

  it('q8/q4: WebGPU logits equal ORT CPU on the same file; KL(engine fp32 ‖ quantized) reported and bounded', async () => {
    for (const [dtype, limit] of [['q8', 1e-3], ['q4', 0.05]] as const) {
      const cpu = await openOnnxCausalLM(join('dist', FOLDER, 'onnx', ONNX_FILE[dtype]), { layers: 1, kvHeads: 1, headDim: 32 });
      const err = relErr(browser[dtype]!.data, (await cpu.logits(IDS)).data).rel;
      const kl = perTokenKl(engine.data, browser[dtype]!.data, engine.vocab);
      const mean = kl.reduce((a, b) => a + b, 0) / kl.length;
      console.log(`${dtype}: WebGPU vs ORT CPU max rel err ${err.toExponential(2)}; KL(engine fp32 ‖ ${dtype}) per token mean ${mean.toExponential(2)}, max ${Math.max(...kl).toExponential(2)}`);
      expect(err).toBeLessThan(1e-4);
      expect(mean).toBeGreaterThan(0);
      expect(Math.max(...kl)).toBeLessThan(limit);
    }
  });

  it('streams generated tokens, greedy, as the CPU run generates them', async () => {
    const r = await s.page.evaluate(async ({ folder, ids }) => {
      const w = window as unknown as OnnxWindow;
      await w.onnx.load({ folder, dtype: 'q4' });
      return w.onnxGenerate({ ids, maxNewTokens: 4 });
    }, { folder: FOLDER, ids: IDS });
    const cpu = await openOnnxCausalLM(join('dist', FOLDER, 'onnx', ONNX_FILE.q4), { layers: 1, kvHeads: 1, headDim: 32 });
    const want = await cpu.greedy(IDS, 4, [132]);
    console.log(`q4 streamed ${r.tokens.length} tokens ${JSON.stringify(r.tokens.map((t) => t.text).join(''))}; prefill ${(r.prefillSeconds * 1000).toFixed(1)} ms, decode ${(r.decodeSeconds * 1000).toFixed(1)} ms`);
    expect(r.tokens.map((t) => t.id)).toEqual(want.ids);
    expect(s.consoleErrors).toEqual([]);
  });
});
