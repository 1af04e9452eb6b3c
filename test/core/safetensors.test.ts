import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import { FormatError, MissingFileError, MissingTensorError } from '../../src/core/errors.ts';
import { MapFileSource } from '../../src/core/files.ts';
import {
  bf16ToF32,
  Checkpoint,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  SafetensorsFile,
  writeSafetensors,
  writeShardedSafetensors,
} from '../../src/core/safetensors.ts';
import { randn, rng } from '../helpers/numeric.ts';

const PYTHON = process.env.RETORT_PYTHON ?? '/usr/bin/python3';
const hasTorch = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import torch'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
if (!hasTorch) console.warn(`${PYTHON} has no torch: PyTorch cross-checks are skipped`);

const tmp = mkdtempSync(join(tmpdir(), 'retort-st-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function python(script: string, ...args: string[]): string {
  return execFileSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8' });
}

/** An f16 value computed from its fields with plain arithmetic — independent of the table. */
function halfValue(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 31) return m ? NaN : s * Infinity;
  if (e === 0) return s * m * 2 ** -24;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

const bitsOf = (x: number) => new Uint32Array(new Float32Array([x]).buffer)[0];

describe('f16 / bf16 converters', () => {
  it('f16 → f32 matches the IEEE formula for all 65,536 bit patterns, and f32 → f16 inverts it', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const f = f16ToF32(all);
    const back = f32ToF16(f);
    let bad = 0;
    for (let h = 0; h < 65536; h++) {
      const want = halfValue(h);
      if (Number.isNaN(want)) {
        if (!Number.isNaN(f[h]) || back[h] !== ((h & 0x8000) | 0x7e00)) bad++;
      } else if (!Object.is(f[h], want) || back[h] !== h) bad++;
    }
    console.log(`f16 exhaustive: ${bad} mismatches of 65536`);
    expect(bad).toBe(0);
  });

  it('f32 → f16 rounds to nearest even at the edges (hand-derived)', () => {
    const cases: [number, number][] = [
      [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 → even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // tie → even (1 + 2^-9)
      [65504, 0x7bff],
      [65519, 0x7bff], // below the midpoint 65520
      [65520, 0x7c00], // midpoint rounds to even = inf
      [2 ** -25, 0x0000], // half the smallest subnormal: tie → 0
      [1.5 * 2 ** -25, 0x0001],
      [2 ** -24, 0x0001],
      [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units → 2
      [-0, 0x8000],
      [2 ** -14 - 2 ** -25, 0x0400], // rounds up out of the subnormals into the smallest normal
      [1e10, 0x7c00],
      [-Infinity, 0xfc00],
    ];
    for (const [x, h] of cases) expect([x, f32ToF16(new Float32Array([x]))[0]]).toEqual([x, h]);
  });

  it('bf16: exact widening and round-to-nearest-even narrowing (hand-derived)', () => {
    expect([...bf16ToF32(new Uint16Array([0x3f80, 0xc000, 0x7f80, 0x0001]))]).toEqual([1, -2, Infinity, 2 ** -133]);
    const x = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, 3.4e38, NaN]);
    expect([...f32ToBf16(x)].map((b) => b.toString(16))).toEqual(['3f80', '3f82', '3f81', '7f80', '7fc0']);
  });

  it.skipIf(!hasTorch)('f32 → f16 / bf16 are bit-identical to PyTorch on 200k values across all exponents', () => {
    const n = 200_000;
    const r = rng(7);
    const bits = new Uint32Array(n);
    for (let i = 0; i < n; i++) {
      // random sign/exponent/mantissa, exponents biased towards the f16 range, some exact ties
      const exp = i % 3 === 0 ? Math.floor(r() * 256) : 96 + Math.floor(r() * 50);
      let man = Math.floor(r() * 2 ** 23);
      if (i % 5 === 0) man = (man & ~0x1fff) | 0x1000; // f16 tie
      if (i % 7 === 0) man = (man & ~0xffff) | 0x8000; // bf16 tie
      bits[i] = ((r() < 0.5 ? 0x80000000 : 0) | (exp << 23) | man) >>> 0;
    }
    const inPath = join(tmp, 'f32.bin');
    writeFileSync(inPath, new Uint8Array(bits.buffer));
    python(
      `import sys, torch
x = torch.frombuffer(bytearray(open(sys.argv[1], 'rb').read()), dtype=torch.float32)
open(sys.argv[1] + '.f16', 'wb').write(x.half().view(torch.int16).numpy().tobytes())
open(sys.argv[1] + '.bf16', 'wb').write(x.bfloat16().view(torch.int16).numpy().tobytes())`,
      inPath,
    );
    const f32 = new Float32Array(bits.buffer);
    for (const [ext, ours] of [['f16', f32ToF16(f32)], ['bf16', f32ToBf16(f32)]] as const) {
      const ref = new Uint16Array(new Uint8Array(readFileSync(`${inPath}.${ext}`)).buffer);
      let mismatches = 0;
      let first = -1;
      for (let i = 0; i < n; i++) {
        // NaN payloads differ between torch versions; a NaN only has to stay a NaN.
        const nan = ext === 'f16' ? (ref[i] & 0x7c00) === 0x7c00 && (ref[i] & 0x3ff) !== 0 : (ref[i] & 0x7f80) === 0x7f80 && (ref[i] & 0x7f) !== 0;
        const same = nan ? (ext === 'f16' ? (ours[i] & 0x7fff) === 0x7e00 : ours[i] === 0x7fc0) : ours[i] === ref[i];
        if (!same) {
          mismatches++;
          if (first < 0) first = i;
        }
      }
      console.log(`${ext}: ${mismatches} bit mismatches vs torch of ${n}`);
      expect(mismatches, first < 0 ? '' : `first at f32 bits ${bits[first].toString(16)}`).toBe(0);
    }
  });
});

describe('safetensors reader and writer', () => {
  it.skipIf(!hasTorch)('reads a file PyTorch wrote (by hand: struct + json), bit-exact for every dtype', async () => {
    const path = join(tmp, 'torch.safetensors');
    python(
      `import sys, json, struct, torch
torch.manual_seed(0)
base = torch.randn(3, 5) * 3
ts = {
  'a.f32': base, 'b.f16': base.half(), 'c.bf16': base.bfloat16(),
  'd.i64': torch.tensor([[-5, 2**40], [7, 0]], dtype=torch.int64), 'e.i32': torch.tensor([1, -2, 3], dtype=torch.int32),
  'f.u8': torch.tensor([0, 255, 9], dtype=torch.uint8), 'g.bool': torch.tensor([True, False, True]), 'h.empty': torch.zeros(0, 4),
}
names = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64', torch.int32: 'I32', torch.uint8: 'U8', torch.bool: 'BOOL'}
header, blobs, off = {'__metadata__': {'format': 'pt'}}, [], 0
for k, t in ts.items():
  b = (t.view(torch.int16) if t.dtype in (torch.float16, torch.bfloat16) else t).numpy().tobytes()
  header[k] = {'dtype': names[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
  blobs.append(b); off += len(b)
h = json.dumps(header).encode()
with open(sys.argv[1], 'wb') as f:
  f.write(struct.pack('<Q', len(h))); f.write(h); f.write(b''.join(blobs))
# f32 widening of each float tensor, for comparison
for k in ('a.f32', 'b.f16', 'c.bf16'):
  open(sys.argv[1] + '.' + k, 'wb').write(ts[k].float().numpy().tobytes())`,
      path,
    );
    const st = await SafetensorsFile.open(new NodeFileSource(tmp), 'torch.safetensors');
    expect(st.names().sort()).toEqual(['a.f32', 'b.f16', 'c.bf16', 'd.i64', 'e.i32', 'f.u8', 'g.bool', 'h.empty']);
    expect(st.header.metadata).toEqual({ format: 'pt' });
    let worst = 0;
    for (const name of ['a.f32', 'b.f16', 'c.bf16']) {
      const ref = new Float32Array(new Uint8Array(readFileSync(`${path}.${name}`)).buffer);
      const got = await st.float32(name);
      expect(st.entry(name).shape).toEqual([3, 5]);
      for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(got[i] - ref[i]));
      expect([...got].map(bitsOf)).toEqual([...ref].map(bitsOf));
    }
    console.log(`torch-written file: worst |ours − torch| = ${worst}`);
    expect((await st.read('d.i64')).data).toEqual(new BigInt64Array([-5n, 2n ** 40n, 7n, 0n]));
    expect([...(await st.int32('e.i32'))]).toEqual([1, -2, 3]);
    expect([...(await st.int32('f.u8'))]).toEqual([0, 255, 9]);
    expect([...(await st.int32('g.bool'))]).toEqual([1, 0, 1]);
    expect((await st.float32('h.empty')).length).toBe(0);
    await expect(st.int32('d.i64')).rejects.toThrow(/d\.i64: I64 value 1099511627776 at index 1 does not fit in int32/);
    await expect(st.float32('e.i32')).rejects.toThrow(/torch\.safetensors: tensor e\.i32: dtype I32 is not a float type/);
  });

  it.skipIf(!hasTorch)('writes files PyTorch reads back (by hand) with the same bits and HF header layout', () => {
    const x = randn(6 * 7, 3, 4);
    x[0] = 1 + 2 ** -11; // an f16 tie
    x[1] = 70000; // f16 overflow
    const bytes = writeSafetensors({
      'w.f32': { dtype: 'F32', shape: [6, 7], data: x },
      'w.f16': { dtype: 'F16', shape: [6, 7], data: x },
      'w.bf16': { dtype: 'BF16', shape: [42], data: x },
      '10': { dtype: 'F16', shape: [1], data: new Float32Array([0.5]) }, // an integer-like name keeps its place
    });
    const path = join(tmp, 'ours.safetensors');
    writeFileSync(path, bytes);
    const out = python(
      `import sys, json, struct, torch
raw = open(sys.argv[1], 'rb').read()
n = struct.unpack('<Q', raw[:8])[0]
header = json.loads(raw[8:8 + n])
data = bytearray(raw[8 + n:])
keys = list(header.keys())
x = torch.frombuffer(bytearray(open(sys.argv[2], 'rb').read()), dtype=torch.float32).reshape(6, 7)
def get(k, dt):
  b, e = header[k]['data_offsets']
  return torch.frombuffer(data[b:e], dtype=dt)
res = {
  'aligned': (8 + n) % 8 == 0, 'pad_spaces': raw[8:8 + n].decode().endswith('}' + ' ' * (len(raw[8:8 + n].decode()) - len(raw[8:8 + n].decode().rstrip()))),
  'keys': keys, 'meta': header['__metadata__'],
  'f32': bool(torch.equal(get('w.f32', torch.float32).view(6, 7), x)),
  'f16': bool(torch.equal(get('w.f16', torch.int16), x.half().view(torch.int16).flatten())),
  'bf16': bool(torch.equal(get('w.bf16', torch.int16), x.bfloat16().view(torch.int16).flatten())),
  'f16_worst': float((get('w.f16', torch.float16).float().view(6, 7) - x).abs()[x.abs() < 65504].max()),
  'ten': float(get('10', torch.float16)[0]),
}
print(json.dumps(res))`,
      path,
      (() => {
        const p = join(tmp, 'x.bin');
        writeFileSync(p, new Uint8Array(x.buffer));
        return p;
      })(),
    );
    const res = JSON.parse(out) as Record<string, unknown>;
    console.log(`ours → torch: f16 worst |Δ| vs f32 source ${res.f16_worst}`);
    expect(res).toMatchObject({ aligned: true, pad_spaces: true, f32: true, f16: true, bf16: true, ten: 0.5 });
    expect(res.meta).toEqual({ format: 'pt' });
    // dtype size first (F32), then names: deterministic
    expect(res.keys).toEqual(['__metadata__', 'w.f32', '10', 'w.bf16', 'w.f16']);
    expect(writeSafetensors({ b: { dtype: 'F32', shape: [1], data: x.subarray(0, 1) } })).toEqual(
      writeSafetensors(new Map([['b', { dtype: 'F32', shape: [1], data: x.subarray(0, 1) }]])),
    );
  });

  it('round-trips through our own reader and reads only the header on open', async () => {
    const x = randn(64, 11);
    const bytes = writeSafetensors({ a: { dtype: 'BF16', shape: [8, 8], data: x }, b: { dtype: 'F32', shape: [64], data: x } });
    let read = 0;
    const src = new MapFileSource({ 'm.safetensors': bytes });
    const counting = Object.assign(Object.create(src) as MapFileSource, {
      readRange: async (p: string, o: number, l: number) => {
        read += l;
        return src.readRange(p, o, l);
      },
    });
    const st = await SafetensorsFile.open(counting, 'm.safetensors');
    expect(read).toBe(st.header.dataStart); // 8 + header, no tensor bytes
    expect(await st.float32('b')).toEqual(x);
    expect(await st.float32('a')).toEqual(bf16ToF32(f32ToBf16(x)));
    expect(read).toBe(bytes.byteLength);
  });

  it('NodeFileSource reads ranges from disk', async () => {
    const bytes = writeSafetensors({ a: { dtype: 'F16', shape: [3], data: new Float32Array([1, 2, 3]) } });
    writeFileSync(join(tmp, 'n.safetensors'), bytes);
    const st = await SafetensorsFile.open(new NodeFileSource(tmp), 'n.safetensors');
    expect([...(await st.float32('a'))]).toEqual([1, 2, 3]);
    await expect(SafetensorsFile.open(new NodeFileSource(tmp), 'nope.safetensors')).rejects.toThrow(MissingFileError);
  });
});

/** A file with a hand-made header (no validation on the way in). */
function rawFile(header: unknown, dataBytes: number, headerLength?: number): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setUint32(0, headerLength ?? json.length, true);
  out.set(json, 8);
  return out;
}

describe('safetensors errors name the file and tensor', () => {
  const file = 'ckpt/model.safetensors';
  const f32 = (shape: number[], b: number, e: number) => ({ dtype: 'F32', shape, data_offsets: [b, e] });
  const cases: [string, Uint8Array, RegExp][] = [
    ['file shorter than 8 bytes', new Uint8Array(5), /^ckpt\/model\.safetensors: truncated: 5 bytes/],
    ['header length larger than the file', rawFile({}, 0, 1000), /header length 1000 is larger than the file \(10 bytes\)/],
    ['header not JSON', rawFile('{"a": [1,', 0), /ckpt\/model\.safetensors: header is not JSON/],
    ['truncated data', rawFile({ 'x.w': f32([4], 0, 16) }, 12), /tensor x\.w: truncated file: the tensor ends at data byte 16 but the data section has only 12 bytes/],
    ['overlap', rawFile({ a: f32([2], 0, 8), b: f32([2], 4, 12) }, 12), /tensor b: data_offsets \[4, 12\] overlap tensor a \[0, 8\]/],
    ['gap', rawFile({ a: f32([1], 0, 4), b: f32([1], 8, 12) }, 12), /tensor b: data_offsets are not contiguous: bytes \[4, 8\) .*after tensor a/],
    ['not starting at 0', rawFile({ a: f32([1], 4, 8) }, 8), /tensor a: data_offsets are not contiguous: bytes \[0, 4\)/],
    ['trailing bytes', rawFile({ a: f32([1], 0, 4) }, 8), /4 bytes after the last tensor belong to no tensor/],
    ['size ≠ shape × dtype', rawFile({ 'q.w': f32([2, 3], 0, 20) }, 20), /tensor q\.w: byte size 20 ≠ shape \[2, 3\] × F32 \(4 bytes\) = 24/],
    ['unknown dtype', rawFile({ 'q.w': { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1), /tensor q\.w: unsupported dtype "Q4" \(known: F64, F32/],
    ['bad offsets', rawFile({ a: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8), /tensor a: data_offsets must be \[begin, end\]/],
    ['bad shape', rawFile({ a: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor a: shape must be a list of non-negative integers/],
  ];
  for (const [what, bytes, message] of cases) {
    it(what, () => {
      let err: unknown;
      try {
        SafetensorsFile.fromBytes(bytes, file);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FormatError);
      expect((err as FormatError).file).toBe(file);
      expect((err as Error).message).toMatch(message);
    });
  }

  it('readable-on-parse but unsupported dtype is refused on read', async () => {
    const st = SafetensorsFile.fromBytes(rawFile({ 'k.scale': { dtype: 'F8_E4M3', shape: [2], data_offsets: [0, 2] } }, 2), file);
    await expect(st.read('k.scale')).rejects.toThrow(/ckpt\/model\.safetensors: tensor k\.scale: unsupported dtype F8_E4M3 \(readable: F32, F16, BF16/);
  });

  it('missing tensor names the tensor and the file', async () => {
    const st = SafetensorsFile.fromBytes(writeSafetensors({}), file);
    await expect(st.float32('model.layers.3.mlp.up_proj.weight')).rejects.toThrow(
      'missing tensor model.layers.3.mlp.up_proj.weight in ckpt/model.safetensors',
    );
  });
});

describe('sharded checkpoints', () => {
  const tensors = Object.fromEntries(
    ['model.embed_tokens.weight', 'model.layers.0.mlp.up_proj.weight', 'model.layers.1.mlp.up_proj.weight', 'model.norm.weight'].map(
      (n, i) => [n, { dtype: 'F32' as const, shape: [4, 4], data: randn(16, i) }],
    ),
  );

  it('writes shards + index and reads every tensor back', async () => {
    const files = writeShardedSafetensors(tensors, 2 * 64);
    expect([...files.keys()].sort()).toEqual([
      'model-00001-of-00002.safetensors',
      'model-00002-of-00002.safetensors',
      'model.safetensors.index.json',
    ]);
    const index = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json'))) as {
      metadata: { total_size: number };
      weight_map: Record<string, string>;
    };
    expect(index.metadata.total_size).toBe(4 * 64);
    expect(index.weight_map['model.norm.weight']).toBe('model-00002-of-00002.safetensors');
    const src = new MapFileSource([...files].map(([k, v]) => [`ck/${k}`, v] as [string, Uint8Array]));
    const ck = await Checkpoint.open(src, 'ck');
    expect(ck.file).toBe('ck/model.safetensors.index.json');
    for (const [name, t] of Object.entries(tensors)) expect(await ck.float32(name)).toEqual(t.data);
    expect(ck.tensors.get('model.norm.weight')?.file).toBe('ck/model-00002-of-00002.safetensors');
    await expect(ck.float32('lm_head.weight')).rejects.toThrow('missing tensor lm_head.weight in ck/model.safetensors.index.json');
  });

  it('a single small checkpoint is model.safetensors', async () => {
    expect([...writeShardedSafetensors(tensors, Infinity).keys()]).toEqual(['model.safetensors']);
    const files = writeShardedSafetensors(tensors, 1e9);
    expect([...files.keys()]).toEqual(['model.safetensors']);
    const ck = await Checkpoint.open(new MapFileSource({ 'd/model.safetensors': files.get('model.safetensors')! }), 'd');
    expect(ck.names().sort()).toEqual(Object.keys(tensors).sort());
    await expect(ck.read('model.layers.3.mlp.up_proj.weight')).rejects.toThrow(
      'missing tensor model.layers.3.mlp.up_proj.weight in d/model.safetensors',
    );
  });

  it('index errors: missing shard, tensor absent from its shard, no weights at all', async () => {
    const files = writeShardedSafetensors(tensors, 2 * 64);
    const idx = JSON.parse(new TextDecoder().decode(files.get('model.safetensors.index.json'))) as {
      weight_map: Record<string, string>;
    };
    const noShard = new MapFileSource({ 'model.safetensors.index.json': JSON.stringify(idx), 'model-00001-of-00002.safetensors': files.get('model-00001-of-00002.safetensors')! });
    await expect(Checkpoint.open(noShard, '')).rejects.toThrow(/no such file: model-00002-of-00002\.safetensors \(listed in model\.safetensors\.index\.json\)/);
    idx.weight_map['model.layers.7.self_attn.q_proj.weight'] = 'model-00001-of-00002.safetensors';
    const extra = new MapFileSource([...files].map(([k, v]) => [k, k.endsWith('.json') ? JSON.stringify(idx) : v] as [string, Uint8Array | string]));
    const err = await Checkpoint.open(extra, '').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingTensorError);
    expect((err as Error).message).toBe('missing tensor model.layers.7.self_attn.q_proj.weight in model-00001-of-00002.safetensors');
    await expect(Checkpoint.open(new MapFileSource({ 'index.html': 'x' }), 'm')).rejects.toThrow(
      'no such file: m/model.safetensors (nor model.safetensors.index.json)',
    );
    await expect(Checkpoint.open(new MapFileSource({ 'model.safetensors.index.json': '{"weight_map": 3}' }), '')).rejects.toThrow(
      'model.safetensors.index.json: "weight_map" must be an object',
    );
  });
});
