/**
 * Bad model folders, each refused with one sentence naming the file and what is wrong: no onnx/
 * directory, external data missing or cut short, a tokenizer that does not fit the model, an opset or
 * operator ONNX Runtime cannot run. Plus the good case the external-data check must not break.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportCommand } from '../../src/cli/export.ts';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { checkOnnxFolder } from '../../src/onnx/check.ts';
import { openOnnxCausalLM, openOnnxSession } from '../../src/onnx/ort-node.ts';
import { configureLocal, loadOnnxModel, transformersLM } from '../../src/onnx/transformers-lm.ts';
import { concat, encodeModel, type GraphSpec } from '../../src/onnx/proto.ts';

const DEMO = 'public/models/demo-student';
const files = new NodeFileSource();

async function exported(extra: string[] = []): Promise<string> {
  const out = mkdtempSync(join(tmpdir(), 'retort-onnx-bad-'));
  expect(await exportCommand(['--model', DEMO, '--dtype', 'fp32', '--out', out, ...extra])).toBe(0);
  return out;
}

/** A folder whose onnx/model.onnx is `graph` (opset as given), beside the demo's config and tokenizer. */
async function folderWith(graph: GraphSpec, opset: number): Promise<string> {
  const out = await exported();
  writeFileSync(join(out, 'onnx', 'model.onnx'), concat(encodeModel(graph, { opset }).model));
  return out;
}

const decoderIo = {
  inputs: [
    { name: 'input_ids', type: 'int64' as const, shape: ['batch_size', 'sequence_length'] },
    { name: 'attention_mask', type: 'int64' as const, shape: ['batch_size', 'total_sequence_length'] },
  ],
  outputs: [{ name: 'logits', type: 'float' as const, shape: ['batch_size', 'sequence_length', 136] }],
};

describe('bad model folders', () => {
  it('a folder with no onnx/ directory', async () => {
    const out = mkdtempSync(join(tmpdir(), 'retort-onnx-bad-'));
    cpSync(DEMO, out, { recursive: true });
    await expect(checkOnnxFolder(files, out, 'q4')).rejects.toThrow(`${out} has no onnx/ directory with a model in it: export one with \`retort export`);
  });

  it('an onnx/ directory without the dtype asked for', async () => {
    const out = await exported();
    await expect(checkOnnxFolder(files, out, 'q4')).rejects.toThrow(`no onnx/model_q4.onnx for dtype q4 (onnx/ has model.onnx)`);
  });

  it('external data: loads when present; missing or truncated is named', async () => {
    const out = await exported(['--external-data']);
    const checked = await checkOnnxFolder(files, out, 'fp32');
    console.log(`external data: ${checked.summary.external.length} initializers in model.onnx_data, ${checked.bytes} bytes in all`);
    expect(checked.summary.external.length).toBeGreaterThan(5);
    // transformers.js finds the data file through config.json's transformers.js_config, and computes what the inline model does
    configureLocal(dirname(out));
    const viaTjs = transformersLM(await loadOnnxModel(basename(out), 'fp32', { device: 'cpu', fallback: null }), 'external', 0);
    const inline = await openOnnxCausalLM(join(await exported(), 'onnx', 'model.onnx'), { layers: 1, kvHeads: 1, headDim: 32 });
    const ids = [130, 17, 4, 9];
    expect((await viaTjs.logits(ids)).data).toEqual((await inline.logits(ids)).data);

    truncateSync(join(out, 'onnx', 'model.onnx_data'), 5000);
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow(/onnx\/model\.onnx: initializer '.+' needs bytes \d+–\d+ of .+model\.onnx_data, which has 5000: the external data is truncated/);
    rmSync(join(out, 'onnx', 'model.onnx_data'));
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow(/onnx\/model\.onnx: initializer '.+' keeps its data in external file 'model\.onnx_data', which is missing/);
    // ORT itself, for callers that skip the check: its message, prefixed with the file
    await expect(openOnnxSession(join(out, 'onnx', 'model.onnx'))).rejects.toThrow(`${join(out, 'onnx', 'model.onnx')}: ONNX Runtime cannot load it:`);
  });

  it('a tokenizer that does not fit the model', async () => {
    const out = await exported();
    // another model's tokenizer: the demo's with 64 more added tokens (ids 136…199)
    const tok = JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')) as { added_tokens: Record<string, unknown>[] };
    for (let id = 136; id < 200; id++) tok.added_tokens.push({ ...tok.added_tokens[0], id, content: `<|extra_${id}|>` });
    writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(tok));
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow(/config\.json.*the tokenizer has ids up to 199 but "vocab_size" is 136/);
  });

  it('a config that belongs to another model (logit columns ≠ vocab_size)', async () => {
    const out = await folderWith({
      name: 'wrong_vocab', ...decoderIo,
      outputs: [{ name: 'logits', type: 'float', shape: ['batch_size', 'sequence_length', 999] }],
      nodes: [{ op: 'Cast', inputs: ['input_ids'], outputs: ['logits'], attrs: { to: 1 } }],
    }, 17);
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow('logits have 999 columns but');
  });

  it('an opset ONNX Runtime does not run', async () => {
    const out = await folderWith({ name: 'future', ...decoderIo, nodes: [{ op: 'Cast', inputs: ['input_ids'], outputs: ['logits'], attrs: { to: 1 } }] }, 99);
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow('onnx/model.onnx: imports ONNX opset 99; ONNX Runtime Web runs opsets 7–21');
  });

  it('an operator ONNX Runtime does not implement', async () => {
    const out = await folderWith({ name: 'unknown_op', ...decoderIo, nodes: [{ op: 'TotallyNotAnOp', inputs: ['input_ids'], outputs: ['logits'] }] }, 17);
    const model = join(out, 'onnx', 'model.onnx');
    await checkOnnxFolder(files, out, 'fp32'); // opset and domain are fine: only the runtime knows its kernels
    const err = await openOnnxSession(model).then(() => null, (e: Error) => e);
    console.log(err?.message);
    expect(err?.message).toContain(`${model}: ONNX Runtime cannot load it:`);
    expect(err?.message).toContain('TotallyNotAnOp');
  });

  it('a file that is not ONNX at all', async () => {
    const out = await exported();
    mkdirSync(join(out, 'onnx'), { recursive: true });
    writeFileSync(join(out, 'onnx', 'model.onnx'), '{"not": "a protobuf"}');
    await expect(checkOnnxFolder(files, out, 'fp32')).rejects.toThrow(/onnx\/model\.onnx: (not an ONNX|truncated protobuf)/);
  });
});
