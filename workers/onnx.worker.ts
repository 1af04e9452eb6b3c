/// <reference lib="webworker" />
/**
 * Exported (ONNX) models in a Web Worker through transformers.js, exposed with comlink like
 * engine.worker.ts. Local files only: model folders come from the page's own origin, ORT's wasm from
 * the app's build, nothing from a hub. WebGPU EP when the browser has an adapter; otherwise wasm, and
 * `load` says so (never a silent fallback). Besides streaming generation and logits, the worker can
 * hold the engine (fp32) next to the ONNX model, so that the parity check, the full-vs-quantized
 * comparison and the decode benchmark run both in the same worker on the same adapter.
 */
import { expose } from 'comlink';
import wasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm?url';
import type { PreTrainedModel } from '@huggingface/transformers';
import { HttpFileSource } from '../src/core/http-files.ts';
import { joinPath, readJson } from '../src/core/files.ts';
import type { Tokenizer } from '../src/core/tokenizer.ts';
import type { ExportDtype } from '../src/core/schema/export.ts';
import { checkOnnxFolder } from '../src/onnx/check.ts';
import { chatProblems, compareModels, perTokenKl, type ComparableLM, type Comparison } from '../src/onnx/compare.ts';
import { exportOnnx } from '../src/onnx/export.ts';
import { MemoryModels } from '../src/onnx/memory-models.ts';
import type { QatConfig } from '../src/core/schema/adapters.ts';
import { engineLM } from '../src/onnx/engine-lm.ts';
import { chooseDevice, configureLocal, loadOnnxModel, streamGreedy, transformersLM, type DeviceChoice, type OnnxDevice } from '../src/onnx/transformers-lm.ts';
import { Runtime } from '../src/engine/runtime.ts';
import { Decoder } from '../src/engine/model/decoder.ts';
import { loadWeights } from '../src/engine/model/weights.ts';

let baseUrl = '/';
const files = () => new HttpFileSource(self.location.origin + baseUrl);

interface Loaded {
  folder: string;
  dtype: ExportDtype;
  model: PreTrainedModel;
  tokenizer: Tokenizer;
  device: DeviceChoice;
  lm: ComparableLM;
}
let loaded: Loaded | null = null;
let engine: { folder: string; lm: ComparableLM } | null = null;
let runtime: Promise<Runtime> | null = null;
/** Folders exported in this worker (exportModel): loaded from memory, offered for download. */
const memory = new MemoryModels();

function current(): Loaded {
  if (!loaded) throw new Error('no ONNX model loaded: call load({ folder, dtype }) first');
  return loaded;
}

export interface SpeedResult {
  engine: { label: string; prefillTokensPerSecond: number; decodeTokensPerSecond: number };
  onnx: { label: string; prefillTokensPerSecond: number; decodeTokensPerSecond: number };
}

export interface OnnxLoadInfo {
  folder: string;
  dtype: ExportDtype;
  /** The execution provider running the model, and why it is not WebGPU when it is not. */
  device: OnnxDevice;
  fallback: string | null;
  /** onnx/<file> and its bytes (with external data). */
  file: string;
  bytes: number;
  vocab: number;
}

export interface ExportedInfo {
  /** Where the export is held in this worker (what load() takes). */
  folder: string;
  /** The checkpoint it was made from (what loadEngine() takes). */
  source: string;
  dtype: ExportDtype;
  onnxFile: string;
  modelBytes: number;
  grid: { grid: QatConfig; from: 'qat' | 'option' | 'default' } | null;
  files: { path: string; bytes: number }[];
}

export const onnxApi = {
  /** Where the page's static files are: model folders are paths under it. */
  setBase(base: string): void {
    baseUrl = base;
  },

  /** Checks the folder (errors name the file), then loads it with transformers.js. */
  async load(req: { folder: string; dtype: ExportDtype; device?: OnnxDevice }): Promise<OnnxLoadInfo> {
    const inMemory = memory.has(req.folder);
    const src = inMemory ? memory.files : files();
    const checked = await checkOnnxFolder(src, req.folder, req.dtype);
    configureLocal(self.location.origin + baseUrl, { wasm: wasmUrl });
    memory.serve(inMemory);
    const device = await chooseDevice(req.device);
    if (device.fallback) console.warn(`onnx worker: ${device.fallback}`);
    const onnx = await loadOnnxModel(req.folder, req.dtype, device);
    await loaded?.model.dispose();
    loaded = {
      folder: req.folder, dtype: req.dtype, model: onnx.model, tokenizer: checked.tokenizer, device,
      lm: transformersLM(onnx, `onnx ${req.dtype}`, checked.bytes),
    };
    return { folder: req.folder, dtype: req.dtype, device: device.device, fallback: device.fallback, file: checked.file, bytes: checked.bytes, vocab: checked.spec.vocabSize };
  },

  /**
   * Exports an HF checkpoint here, in the browser, and holds the result in memory as
   * `exports/<name>-<dtype>`, ready for load() and for download. The checkpoint is the folder `model`
   * under the page's base, or `files` (a checkpoint of a run in this tab, named `model`), which is then
   * held as `sources/<model>` so that loadEngine() can run its full precision beside the export.
   */
  async exportModel(req: { model: string; files?: Map<string, Uint8Array>; dtype: ExportDtype; grid?: QatConfig }): Promise<ExportedInfo> {
    const name = req.model.split('/').filter(Boolean).at(-1) ?? 'model';
    let source = req.model;
    if (req.files) {
      source = `sources/${name}`;
      memory.add(source, [...req.files].map(([path, bytes]) => ({ path, chunks: [bytes] })));
    }
    const out = await exportOnnx(req.files ? memory.files : files(), source, { dtype: req.dtype, grid: req.grid });
    const folder = `exports/${name}-${req.dtype}`;
    const whole = memory.add(folder, out.files);
    return { folder, source, dtype: req.dtype, onnxFile: out.onnxFile, modelBytes: out.modelBytes, grid: out.grid, files: [...whole].map(([path, b]) => ({ path, bytes: b.length })) };
  },

  /** The files of a folder exported here (exportModel), relative to it. */
  async exportedFiles(folder: string): Promise<Map<string, Uint8Array>> {
    return memory.folderFiles(folder);
  },

  /**
   * KL(full ‖ quantized) at each position of one problem's reference completion (problem `index` of a
   * chat JSONL file), with the token predicted there: the per-token strip beside the means.
   */
  async tokenKl(req: { dataset: string; index: number }): Promise<{ tokens: string[]; kl: number[] }> {
    const onnx = current();
    if (!engine) throw new Error('no engine model loaded: call loadEngine(folder) first');
    const p = chatProblems(await files().readText(req.dataset), req.dataset, onnx.tokenizer, req.index + 1)[req.index];
    if (!p) throw new Error(`${req.dataset}: no problem ${req.index + 1}`);
    const [full, quant] = [await engine.lm.logits(p.full), await onnx.lm.logits(p.full)];
    const from = p.prompt.length - 1, to = p.full.length - 1;
    const kl = perTokenKl(full.data.subarray(from * full.vocab, to * full.vocab), quant.data.subarray(from * quant.vocab, to * quant.vocab), full.vocab);
    return { tokens: p.full.slice(from + 1, to + 1).map((id) => onnx.tokenizer.decodeToken(id)), kl };
  },

  /** Logits [T, vocab] of one forward over `ids`. */
  async logits(ids: number[]): Promise<{ data: Float32Array; vocab: number }> {
    return current().lm.logits(ids);
  },

  /** Greedy generation from text (chat template applied) or ids; tokens stream through `onToken`. */
  async generate(req: { text?: string; ids?: number[]; maxNewTokens: number }, onToken: (t: { id: number; text: string }) => void) {
    const { model, tokenizer } = current();
    const prompt = req.ids ?? tokenizer.applyChatTemplate([{ role: 'user', content: req.text ?? '' }], { addGenerationPrompt: true }).ids;
    return streamGreedy(model, prompt, req.maxNewTokens, tokenizer.eosIds, (id) => onToken({ id, text: tokenizer.decodeToken(id) }));
  },

  /** The same weights' full-precision original (an HF checkpoint folder, or one held here) on the engine, in this worker. */
  async loadEngine(folder: string): Promise<{ adapter: string; bytes: number }> {
    if (!('gpu' in navigator) || !navigator.gpu) throw new Error('the engine needs WebGPU, which this browser does not have');
    const rt = await (runtime ??= Runtime.create(navigator.gpu));
    const src = memory.has(folder) ? memory.files : files();
    const model = new Decoder(rt, await loadWeights(rt, src, folder, 'f32'));
    const weights = joinPath(folder, 'model.safetensors');
    const bytes = (await src.readBytes(weights)).length;
    engine = { folder, lm: engineLM(model, 'engine fp32', bytes) };
    return { adapter: rt.env.adapter, bytes };
  },

  async engineLogits(ids: number[]): Promise<{ data: Float32Array; vocab: number }> {
    if (!engine) throw new Error('no engine model loaded: call loadEngine(folder) first');
    return engine.lm.logits(ids);
  },

  /**
   * Engine (full) vs the loaded ONNX model on the first `limit` problems of a chat JSONL file:
   * per-token KL, exact-match accuracy, perplexity, bytes, prefill and decode tokens/s (`warmUp`: one
   * short untimed generation of each first).
   */
  async compare(req: { dataset: string; limit: number; maxNewTokens: number; warmUp?: boolean }): Promise<Comparison> {
    const onnx = current();
    if (!engine) throw new Error('no engine model loaded: call loadEngine(folder) first');
    const problems = chatProblems(await files().readText(req.dataset), req.dataset, onnx.tokenizer, req.limit);
    // Untimed: pipelines and shaders compile on first use, which would otherwise count as prefill time.
    if (req.warmUp) for (const lm of [engine.lm, onnx.lm]) await lm.greedy(problems[0].prompt, 2, []);
    return compareModels(engine.lm, onnx.lm, problems, {
      maxNewTokens: req.maxNewTokens, stop: onnx.tokenizer.eosIds, decode: (ids) => onnx.tokenizer.decode(ids, { skipSpecial: true }),
    });
  },

  /**
   * Decode and prefill speed of the engine (fp32) and the loaded ONNX model on the same prompt, same
   * adapter: one untimed warm-up run each (shader compilation), then `reps` timed greedy runs each,
   * alternating so that a change in the machine's load hits both.
   */
  async speed(req: { ids: number[]; maxNewTokens: number; reps: number }): Promise<SpeedResult> {
    const onnx = current();
    if (!engine) throw new Error('no engine model loaded: call loadEngine(folder) first');
    const lms = { engine: engine.lm, onnx: onnx.lm };
    const totals = { engine: { prefill: 0, decode: 0, tokens: 0 }, onnx: { prefill: 0, decode: 0, tokens: 0 } };
    for (const lm of Object.values(lms)) await lm.greedy(req.ids, req.maxNewTokens, []);
    for (let r = 0; r < req.reps; r++) {
      for (const [name, lm] of Object.entries(lms) as [keyof typeof lms, ComparableLM][]) {
        const g = await lm.greedy(req.ids, req.maxNewTokens, []);
        totals[name].prefill += g.prefillSeconds;
        totals[name].decode += g.decodeSeconds;
        totals[name].tokens += g.ids.length - 1;
      }
    }
    const rate = (t: (typeof totals)['engine']) => ({ prefillTokensPerSecond: (req.ids.length * req.reps) / t.prefill, decodeTokensPerSecond: t.tokens / t.decode });
    return { engine: { label: engine.lm.label, ...rate(totals.engine) }, onnx: { label: onnx.lm.label, ...rate(totals.onnx) } };
  },

  /** config.json of a folder (the UI shows the architecture next to the numbers). */
  async config(folder: string): Promise<unknown> {
    return readJson(files(), joinPath(folder, 'config.json'));
  },
};

export type OnnxApi = typeof onnxApi;

expose(onnxApi);
