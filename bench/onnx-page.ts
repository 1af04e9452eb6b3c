/**
 * The ONNX worker (workers/onnx.worker.ts) on the bench page, for the quantized-decode bench
 * (bench/quant-decode.ts) and the browser parity tests (test/e2e/onnx-*.e2e.ts): `window.onnx` is the
 * worker; `window.onnxGenerate` collects a streamed generation (Playwright cannot make the comlink
 * proxy a callback needs).
 */
import { proxy, wrap } from 'comlink';
import type { OnnxApi } from '../workers/onnx.worker.ts';

const onnx = wrap<OnnxApi>(new Worker(new URL('../workers/onnx.worker.ts', import.meta.url), { type: 'module' }));

export interface StreamedToken {
  id: number;
  text: string;
  /** ms since the call started, when the token reached the page. */
  at: number;
}

async function onnxGenerate(req: { text?: string; ids?: number[]; maxNewTokens: number }): Promise<{ tokens: StreamedToken[]; prefillSeconds: number; decodeSeconds: number }> {
  const t0 = performance.now();
  const tokens: StreamedToken[] = [];
  const r = await onnx.generate(req, proxy((t: { id: number; text: string }) => void tokens.push({ ...t, at: performance.now() - t0 })));
  return { tokens, prefillSeconds: r.prefillSeconds, decodeSeconds: r.decodeSeconds };
}

Object.assign(window, { onnx, onnxGenerate });
