/**
 * Export an HF-layout checkpoint folder (what the engine and the torch worker save) to a folder that
 * transformers.js opens: config.json, generation_config.json, the tokenizer files and
 * onnx/model{,_fp16,_quantized,_q4}.onnx. Platform-neutral: reads through a FileSource and returns
 * the files to write, so the CLI writes them to disk and a browser could offer them for download.
 *
 * Quantized exports use the QAT grid (src/onnx/quantize.ts). A student trained with QAT carries its
 * grid in its run manifest (`spec.qat` of run_manifest.json, src/core/run-manifest.ts); when its bit
 * width matches the export's, the export quantizes on exactly that grid, so the weights the student trained
 * against are the ones shipped.
 */
import { loadHfConfig } from '../core/hf-config.ts';
import { joinPath, readJson, type FileSource } from '../core/files.ts';
import { tensorNamesFor, validateCheckpoint, type ModelSpec } from '../core/model-spec.ts';
import { Checkpoint } from '../core/safetensors.ts';
import { QatConfigSchema, type QatConfig } from '../core/schema/adapters.ts';
import { LEGACY_RUN_MANIFEST_FILE, RUN_MANIFEST_FILE } from '../core/run-manifest.ts';
import type { ExportDtype } from '../core/schema/export.ts';
import { decoderGraph, type WeightFormat } from './decoder-graph.ts';
import { encodeModel, PROTO_LIMIT } from './proto.ts';

/** transformers.js' file name per dtype (its DEFAULT_DTYPE_SUFFIX_MAPPING). */
export const ONNX_FILE: Record<ExportDtype, string> = {
  fp32: 'model.onnx',
  fp16: 'model_fp16.onnx',
  q8: 'model_quantized.onnx',
  q4: 'model_q4.onnx',
};

/** Grids used when the checkpoint was not trained with QAT at the export's bit width. */
export const DEFAULT_GRID: Record<'q8' | 'q4', QatConfig> = {
  q8: { bits: 8, groupSize: 128, symmetric: true, perChannel: true },
  q4: { bits: 4, groupSize: 32, symmetric: true, perChannel: true },
};

/** Files copied as they are when the model folder has them. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt', 'chat_template.jinja'];

export interface ExportOptions {
  dtype: ExportDtype;
  /** Overrides the grid (else the checkpoint's QAT grid at this bit width, else DEFAULT_GRID). */
  grid?: QatConfig;
  /** Put weights in onnx/<file>_data; forced when the model would pass protobuf's 2 GiB limit. */
  externalData?: boolean;
}

export interface ExportedFile {
  /** Relative to the output folder. */
  path: string;
  chunks: Uint8Array[];
}

export interface ExportResult {
  files: ExportedFile[];
  spec: ModelSpec;
  onnxFile: string;
  /** The grid quantized weights are on, and where it came from. */
  grid: { grid: QatConfig; from: 'qat' | 'option' | 'default' } | null;
  /** Bytes of the ONNX model and its external data. */
  modelBytes: number;
}

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Where trainers record the job spec beside a checkpoint (core/run-manifest.ts), then the older torch name. */
const MANIFESTS = [RUN_MANIFEST_FILE, LEGACY_RUN_MANIFEST_FILE];

/** The QAT grid a checkpoint was trained with (`spec.qat` of its manifest), or null. */
export async function checkpointQat(src: FileSource, dir: string): Promise<QatConfig | null> {
  for (const name of MANIFESTS) {
    const path = joinPath(dir, name);
    if (!(await src.exists(path))) continue;
    const qat = ((await readJson(src, path)) as { spec?: { qat?: unknown } } | null)?.spec?.qat;
    if (qat === undefined || qat === null) return null;
    const parsed = QatConfigSchema.safeParse(qat);
    if (!parsed.success) throw new Error(`${path}: spec.qat is not a QAT config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return parsed.data;
  }
  return null;
}

async function chooseGrid(src: FileSource, dir: string, opts: ExportOptions): Promise<ExportResult['grid']> {
  if (opts.dtype !== 'q4' && opts.dtype !== 'q8') return null;
  const bits = opts.dtype === 'q4' ? 4 : 8;
  if (opts.grid) {
    if (opts.grid.bits !== bits) throw new Error(`export: a ${opts.grid.bits}-bit grid cannot make a ${opts.dtype} model`);
    return { grid: opts.grid, from: 'option' };
  }
  const qat = await checkpointQat(src, dir);
  if (qat && qat.bits === bits) return { grid: qat, from: 'qat' };
  return { grid: DEFAULT_GRID[opts.dtype], from: 'default' };
}

/** generation_config.json from the model folder, else the config's bos/eos. */
async function generationConfig(src: FileSource, dir: string, spec: ModelSpec): Promise<Uint8Array> {
  const path = joinPath(dir, 'generation_config.json');
  if (await src.exists(path)) return src.readBytes(path);
  const eos = spec.eosTokenIds.length === 1 ? spec.eosTokenIds[0] : spec.eosTokenIds;
  return utf8(JSON.stringify({ bos_token_id: spec.bosTokenId ?? undefined, eos_token_id: eos }, null, 2) + '\n');
}

export async function exportOnnx(src: FileSource, dir: string, opts: ExportOptions): Promise<ExportResult> {
  const spec = await loadHfConfig(src, dir);
  const ckpt = await Checkpoint.open(src, dir);
  validateCheckpoint(spec, ckpt);
  const weights = new Map<string, Float32Array>();
  for (const t of tensorNamesFor(spec)) weights.set(t.name, await ckpt.float32(t.name));

  const grid = await chooseGrid(src, dir, opts);
  const format: WeightFormat = grid ? { kind: 'nbits', grid: grid.grid } : { kind: opts.dtype === 'fp16' ? 'fp16' : 'fp32' };
  const graph = decoderGraph(spec, weights, format);
  const onnxFile = ONNX_FILE[opts.dtype];
  const weightBytes = (graph.initializers ?? []).reduce((n, t) => n + t.data.byteLength, 0);
  // Leave room for the graph itself under the limit.
  const external = opts.externalData || weightBytes > PROTO_LIMIT - 64 * 2 ** 20;
  const dataFile = `${onnxFile}_data`;
  const encoded = encodeModel(graph, {
    domains: format.kind === 'nbits' ? { 'com.microsoft': 1 } : {},
    externalData: external ? { file: dataFile, minBytes: 1024 } : undefined,
  });

  const config = (await readJson(src, joinPath(dir, 'config.json'))) as Record<string, unknown>;
  if (external) config['transformers.js_config'] = { ...(config['transformers.js_config'] as object | undefined), use_external_data_format: { [onnxFile]: 1 } };
  const files: ExportedFile[] = [
    { path: 'config.json', chunks: [utf8(JSON.stringify(config, null, 2) + '\n')] },
    { path: 'generation_config.json', chunks: [await generationConfig(src, dir, spec)] },
    { path: `onnx/${onnxFile}`, chunks: encoded.model },
  ];
  if (encoded.external.length) files.push({ path: `onnx/${dataFile}`, chunks: encoded.external });
  for (const name of TOKENIZER_FILES) {
    const path = joinPath(dir, name);
    if (await src.exists(path)) files.push({ path: name, chunks: [await src.readBytes(path)] });
  }
  const size = (f: ExportedFile) => f.chunks.reduce((n, c) => n + c.length, 0);
  const modelBytes = files.filter((f) => f.path.startsWith('onnx/')).reduce((n, f) => n + size(f), 0);
  return { files, spec, onnxFile, grid, modelBytes };
}
