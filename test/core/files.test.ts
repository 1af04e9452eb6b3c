import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { MissingFileError } from '../../src/core/errors.ts';
import { dirName, joinPath, MapFileSource, normalizePath, readJson } from '../../src/core/files.ts';
import { loadHfConfig } from '../../src/core/hf-config.ts';
import { validateCheckpoint } from '../../src/core/model-spec.ts';
import { Checkpoint } from '../../src/core/safetensors.ts';
import { tinyCheckpointFiles, tinySpec } from '../helpers/tiny-checkpoint.ts';

const tmp = mkdtempSync(join(tmpdir(), 'retort-files-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('paths', () => {
  it('join, dirname, normalize', () => {
    expect(joinPath('', 'a.json')).toBe('a.json');
    expect(joinPath('m/', 'a.json')).toBe('m/a.json');
    expect(dirName('m/x/a.json')).toBe('m/x');
    expect(dirName('a.json')).toBe('');
    expect(normalizePath('./m//x/../a.json')).toBe('m/a.json');
    expect(normalizePath('/abs/./b')).toBe('/abs/b');
  });
});

describe('MapFileSource and NodeFileSource behave alike', () => {
  writeFileSync(join(tmp, 'a.txt'), 'hello world');
  const sources = [
    ['map', new MapFileSource({ 'a.txt': 'hello world' })],
    ['node', new NodeFileSource(tmp)],
  ] as const;
  for (const [name, src] of sources) {
    it(name, async () => {
      expect(await src.readText('a.txt')).toBe('hello world');
      expect(await src.exists('a.txt')).toBe(true);
      expect(await src.exists('b.txt')).toBe(false);
      expect(await src.size!('a.txt')).toBe(11);
      expect(new TextDecoder().decode(await src.readRange!('a.txt', 6, 100))).toBe('world');
      expect(await src.list!('')).toContain('a.txt');
      await expect(src.readBytes('b.txt')).rejects.toThrow(MissingFileError);
      await expect(src.readBytes('b.txt')).rejects.toThrow('no such file: b.txt');
      await expect(readJson(src, 'a.txt')).rejects.toThrow(/^a\.txt: not valid JSON/);
    });
  }
  it('lists folders in a MapFileSource', async () => {
    const src = new MapFileSource({ 'm/config.json': '{}', 'm/sub/x': '', 'n/y': '' });
    expect(await src.list('')).toEqual(['m', 'n']);
    expect(await src.list('m')).toEqual(['config.json', 'sub']);
  });
});

describe('tiny checkpoints load like real ones', () => {
  it('one file by default', async () => {
    const files = await tinyCheckpointFiles(tinySpec('qwen2'));
    expect([...files.keys()].sort()).toEqual(['config.json', 'model.safetensors']);
  });
  for (const arch of ['qwen2', 'qwen3', 'llama'] as const) {
    it(`${arch}: config.json + sharded safetensors → same spec, complete weights`, async () => {
      const spec = tinySpec(arch);
      const files = await tinyCheckpointFiles(spec, { dtype: 'BF16', maxShardBytes: 8192 });
      const src = new MapFileSource([...files].map(([k, v]) => [`tiny/${k}`, v] as [string, Uint8Array | string]));
      expect(await loadHfConfig(src, 'tiny')).toEqual(spec);
      const ck = await Checkpoint.open(src, 'tiny');
      expect(ck.shards.size).toBeGreaterThan(1);
      expect(validateCheckpoint(spec, ck)).toEqual({ unused: [] });
      const norm = await ck.float32('model.norm.weight');
      expect(Math.abs(norm.reduce((a, b) => a + b, 0) / norm.length - 1)).toBeLessThan(0.1);
    });
  }
});
