/**
 * Pre-flight checks of a transformers.js model folder before ONNX Runtime sees it, so that what is
 * wrong comes back as one sentence naming the file (and the tensor, node or field), not as a runtime
 * abort deep inside a session: no onnx/ folder or no file for the dtype, an opset or operator domain
 * ONNX Runtime Web cannot run, external data that is missing or short, a graph without the decoder
 * interface, and a tokenizer that does not fit the model. Platform-neutral (FileSource).
 */
import { loadHfConfig } from '../core/hf-config.ts';
import { joinPath, type FileSource } from '../core/files.ts';
import type { ModelSpec } from '../core/model-spec.ts';
import type { ExportDtype } from '../core/schema/export.ts';
import { checkVocabCompatibility, loadTokenizer, type Tokenizer } from '../core/tokenizer.ts';
import { ONNX_FILE } from './export.ts';
import { readOnnxSummary, type OnnxSummary } from './proto-read.ts';

/** Default-domain opsets ONNX Runtime (1.2x, web and node) implements. */
export const OPSET_RANGE = { min: 7, max: 21 } as const;
/** Other operator domains it implements, with their newest version. */
export const KNOWN_DOMAINS: Readonly<Record<string, number>> = { 'com.microsoft': 1, 'com.microsoft.nchwc': 1, 'ai.onnx.ml': 5 };

export interface CheckedFolder {
  spec: ModelSpec;
  tokenizer: Tokenizer;
  /** onnx/<file>, relative to the folder. */
  file: string;
  summary: OnnxSummary;
  /** Bytes of the ONNX file and its external data. */
  bytes: number;
}

async function fileSize(src: FileSource, path: string): Promise<number | null> {
  if (src.size) return src.size(path);
  return (await src.readBytes(path)).length;
}

export function checkOpsets(summary: OnnxSummary, file: string): void {
  for (const { domain, version } of summary.opsets) {
    if (domain === '') {
      if (version < OPSET_RANGE.min || version > OPSET_RANGE.max) {
        throw new Error(`${file}: imports ONNX opset ${version}; ONNX Runtime Web runs opsets ${OPSET_RANGE.min}–${OPSET_RANGE.max} (re-export with a supported opset)`);
      }
    } else if (!(domain in KNOWN_DOMAINS)) {
      throw new Error(`${file}: imports operator domain '${domain}', which ONNX Runtime does not implement`);
    } else if (version > KNOWN_DOMAINS[domain]) {
      throw new Error(`${file}: imports ${domain} version ${version}; ONNX Runtime implements up to ${KNOWN_DOMAINS[domain]}`);
    }
  }
  const imported = new Set(summary.opsets.map((o) => o.domain));
  const stray = summary.nodes.find((n) => !imported.has(n.domain));
  if (stray) throw new Error(`${file}: node '${stray.name}' (${stray.op}) is in domain '${stray.domain}', which the model does not import`);
}

/** Every initializer kept outside the file must be in a file beside it, long enough. */
export async function checkExternalData(src: FileSource, dir: string, summary: OnnxSummary, file: string): Promise<number> {
  let bytes = 0;
  const sizes = new Map<string, number>();
  for (const t of summary.external) {
    const path = joinPath(dir, t.location);
    if (!sizes.has(path)) {
      if (!t.location || !(await src.exists(path))) {
        throw new Error(`${file}: initializer '${t.name}' keeps its data in external file '${t.location}', which is missing (expected at ${path})`);
      }
      const size = (await fileSize(src, path)) ?? 0;
      sizes.set(path, size);
      bytes += size;
    }
    if (t.length >= 0 && t.offset + t.length > sizes.get(path)!) {
      throw new Error(`${file}: initializer '${t.name}' needs bytes ${t.offset}–${t.offset + t.length} of ${path}, which has ${sizes.get(path)}: the external data is truncated`);
    }
  }
  return bytes;
}

/** Checks the folder for `dtype` and returns what loading it needs. */
export async function checkOnnxFolder(src: FileSource, dir: string, dtype: ExportDtype): Promise<CheckedFolder> {
  const onnxDir = joinPath(dir, 'onnx');
  const file = `onnx/${ONNX_FILE[dtype]}`;
  const path = joinPath(dir, file);
  if (!(await src.exists(path))) {
    const present = src.list ? await src.list(onnxDir).catch(() => null) : null;
    if (present === null || present.length === 0) {
      throw new Error(`${dir} has no onnx/ directory with a model in it: export one with \`retort export --model CHECKPOINT --dtype ${dtype} --out ${dir}\``);
    }
    throw new Error(`${dir}: no ${file} for dtype ${dtype} (onnx/ has ${present.join(', ')})`);
  }
  const buf = await src.readBytes(path);
  const summary = readOnnxSummary(buf, path);
  checkOpsets(summary, path);
  const externalBytes = await checkExternalData(src, onnxDir, summary, path);

  for (const name of ['input_ids', 'attention_mask']) {
    if (!summary.inputs.some((i) => i.name === name)) throw new Error(`${path}: the graph has no input '${name}': not a transformers.js decoder`);
  }
  const logits = summary.outputs.find((o) => o.name === 'logits');
  if (!logits) throw new Error(`${path}: the graph has no output 'logits': not a causal LM`);

  const spec = await loadHfConfig(src, dir);
  const logitVocab = logits.shape[logits.shape.length - 1];
  if (typeof logitVocab === 'number' && logitVocab !== spec.vocabSize) {
    throw new Error(`${path}: logits have ${logitVocab} columns but ${joinPath(dir, 'config.json')} says vocab_size ${spec.vocabSize}: the config belongs to another model`);
  }
  if (!(await src.exists(joinPath(dir, 'tokenizer.json')))) throw new Error(`${dir}: no tokenizer.json beside the model`);
  const tokenizer = await loadTokenizer(src, dir);
  checkVocabCompatibility(tokenizer, spec, joinPath(dir, 'config.json'));
  return { spec, tokenizer, file, summary, bytes: buf.length + externalBytes };
}
