/**
 * An export held in memory (what the quantization view makes in the page) loads in transformers.js
 * through its custom cache, with no file written: its logits equal ONNX Runtime's on the same bytes
 * written to disk; keys of folders not held go unanswered (transformers.js then fetches as usual).
 */
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { env } from '@huggingface/transformers';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { exportOnnx } from '../../src/onnx/export.ts';
import { MemoryModels } from '../../src/onnx/memory-models.ts';
import { openOnnxCausalLM } from '../../src/onnx/ort-node.ts';
import { configureLocal, loadOnnxModel, transformersLM } from '../../src/onnx/transformers-lm.ts';

const IDS = [130, 17, 4, 9, 22, 3];

describe('exports held in memory', () => {
  afterAll(() => {
    env.useCustomCache = false;
  });

  it('load in transformers.js from memory with the logits ORT computes from the same file on disk', async () => {
    const out = await exportOnnx(new NodeFileSource(), 'public/models/demo-student', { dtype: 'q4' });
    const memory = new MemoryModels();
    const whole = memory.add('exports/demo-student-q4', out.files);
    expect(memory.has('exports/demo-student-q4')).toBe(true);
    expect([...(await memory.folderFiles('exports/demo-student-q4')).keys()]).toEqual([...whole.keys()]);

    // A root with nothing on disk: every file must come from memory.
    configureLocal(mkdtempSync(join(tmpdir(), 'retort-memory-root-')));
    memory.serve(true);
    const lm = transformersLM(await loadOnnxModel('exports/demo-student-q4', 'q4', { device: 'cpu', fallback: null }), 'memory q4', out.modelBytes);

    const disk = join(mkdtempSync(join(tmpdir(), 'retort-memory-disk-')), 'onnx', out.onnxFile);
    mkdirSync(dirname(disk), { recursive: true });
    writeFileSync(disk, whole.get(`onnx/${out.onnxFile}`)!);
    const ort = await openOnnxCausalLM(disk, { layers: 1, kvHeads: 1, headDim: 32 });
    const [a, b] = [await lm.logits(IDS), await ort.logits(IDS)];
    const worst = a.data.reduce((m, x, i) => Math.max(m, Math.abs(x - b.data[i])), 0);
    console.log(`memory-loaded q4 vs ORT on the file: ${a.data.length} logits, max |diff| ${worst}`);
    expect(a.data.length).toBe(IDS.length * 136);
    expect(worst).toBe(0);
  });

  it('answers only for held folders, and says which folder is missing', async () => {
    const memory = new MemoryModels();
    configureLocal('/nowhere/');
    memory.serve(true);
    const cache = env.customCache as { match(key: string): Promise<Response | undefined> };
    expect(await cache.match('/nowhere/exports/x/config.json')).toBeUndefined();
    memory.add('exports/x', [{ path: 'config.json', chunks: [new TextEncoder().encode('{"a"'), new TextEncoder().encode(':1}')] }]);
    expect(await (await cache.match('/nowhere/exports/x/config.json'))!.text()).toBe('{"a":1}');
    // the remote-URL key transformers.js asks again under, in Node
    expect(await (await cache.match(`${env.remoteHost.replace(/\/$/, '')}/exports/x/resolve/main/config.json`))!.text()).toBe('{"a":1}');
    expect(await cache.match(`${env.remoteHost.replace(/\/$/, '')}/exports/y/resolve/main/config.json`)).toBeUndefined();
    await expect(memory.folderFiles('exports/y')).rejects.toThrow("no exported folder 'exports/y' is held in this worker");
    memory.serve(false);
    expect(env.useCustomCache).toBe(false);
  });
});
