import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseCommand } from './args.ts';
import { NodeFileSource } from './node-files.ts';
import { ExportDtypeSchema } from '../core/schema/export.ts';
import { exportOnnx, type ExportedFile } from '../onnx/export.ts';
import type { QatConfig } from '../core/schema/adapters.ts';

const HELP = `usage: retort export --model DIR --dtype fp32|fp16|q8|q4 --out DIR [--group-size 32|128] [--asymmetric] [--external-data]

Writes a folder transformers.js opens: config.json, generation_config.json, the tokenizer files and
onnx/model.onnx (fp32), model_fp16.onnx, model_quantized.onnx (q8) or model_q4.onnx (q4).
q8/q4 quantize the decoder layers' linear weights (embeddings and LM head stay float) on the QAT grid:
the one in the checkpoint's run_manifest.json when it was trained with QAT at that bit width, else
int8 symmetric per channel / int4 symmetric per group of 32.
  --group-size     int4 group size (overrides the checkpoint's)
  --asymmetric     zero points instead of a symmetric grid
  --external-data  weights in onnx/<file>_data (automatic past 2 GiB)`;

/** Writes one exported file (its chunks in order) at `path`, creating folders. */
export async function writeChunks(path: string, file: ExportedFile): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const fh = await open(path, 'w');
  try {
    for (const c of file.chunks) await fh.write(c);
  } finally {
    await fh.close();
  }
}

export async function exportCommand(argv: string[]): Promise<number> {
  const o = parseCommand('export', argv, {
    model: { type: 'string' }, dtype: { type: 'string' }, out: { type: 'string' },
    'group-size': { type: 'string' }, asymmetric: { type: 'boolean' }, 'external-data': { type: 'boolean' },
  }, HELP);
  if (!o) return 0;
  if (!o.model || !o.out || !o.dtype) throw new Error(`--model, --dtype and --out are required\n\n${HELP}`);
  const dtype = ExportDtypeSchema.safeParse(o.dtype);
  if (!dtype.success) throw new Error(`--dtype: "${o.dtype}" is not one of fp32, fp16, q8, q4`);
  let grid: QatConfig | undefined;
  if (o['group-size'] !== undefined || o.asymmetric) {
    if (dtype.data !== 'q4' && dtype.data !== 'q8') throw new Error(`--group-size and --asymmetric apply to q8 and q4 only`);
    const groupSize = Number(o['group-size'] ?? 32);
    if (groupSize !== 32 && groupSize !== 128) throw new Error(`--group-size: "${o['group-size']}" is not 32 or 128`);
    grid = { bits: dtype.data === 'q4' ? 4 : 8, groupSize, symmetric: !o.asymmetric, perChannel: true };
  }
  const result = await exportOnnx(new NodeFileSource(), o.model, { dtype: dtype.data, grid, externalData: o['external-data'] });
  for (const f of result.files) await writeChunks(join(o.out, f.path), f);
  const g = result.grid;
  const how = g ? ` on the ${g.grid.bits}-bit ${g.grid.symmetric ? 'symmetric' : 'asymmetric'} grid${g.grid.bits === 4 ? ` (groups of ${g.grid.groupSize})` : ''}, from ${g.from === 'qat' ? 'the checkpoint\'s QAT config' : g.from === 'option' ? 'the options' : 'the defaults'}` : '';
  console.log(`wrote ${join(o.out, 'onnx', result.onnxFile)} (${(result.modelBytes / 2 ** 20).toFixed(2)} MiB)${how}`);
  return 0;
}
