import { torchJson } from '../../helpers/python.ts';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import {
  appendKv, attentionBackward, attentionDecode, attentionForward, attentionProbs, keyMaskFromLengths,
} from '../../../src/engine/kernels/attention.ts';
import {
  attentionBackwardRef, attentionForwardRef, attentionProbsRef, type AttentionDims, type AttentionRefOptions,
} from '../../../src/engine/kernels/attention.ref.ts';


/** Right-padded lengths as a [B, T] 0/1 mask. */
function lengthsMask(lengths: number[], T: number): Uint32Array {
  const m = new Uint32Array(lengths.length * T);
  lengths.forEach((n, b) => m.fill(1, b * T, b * T + n));
  return m;
}

interface Case extends AttentionDims {
  /** Right padding. */
  lengths?: number[];
  /** Any key-padding mask [B][T] (left padding, holes). */
  maskRows?: number[][];
  scale?: number;
}

function inputs(c: Case, seed: number) {
  const { B, T, H, KV, D } = c;
  return {
    q: randn(B * T * H * D, seed, 1.5),
    k: randn(B * T * KV * D, seed + 1, 1.5),
    v: randn(B * T * KV * D, seed + 2),
    dout: randn(B * T * H * D, seed + 3),
    mask: c.lengths ? lengthsMask(c.lengths, T) : c.maskRows ? Uint32Array.from(c.maskRows.flat()) : undefined,
  };
}

const LEFT_PADDED = Array.from({ length: 20 }, (_, j) => (j < 11 ? 0 : 1)); // a whole 8-key step masked
const HOLES = Array.from({ length: 20 }, (_, j) => (j % 3 === 1 || j === 0 ? 0 : 1));

// T not a multiple of the 16-row / 8-key blocks; KV < H (rep 2, 3, 4); head_dim 8 to 128; right padding.
const CASES: Case[] = [
  { B: 1, T: 5, H: 2, KV: 2, D: 8 },
  { B: 2, T: 19, H: 4, KV: 2, D: 8 },
  { B: 1, T: 37, H: 2, KV: 1, D: 64 },
  { B: 2, T: 23, H: 3, KV: 1, D: 16, lengths: [23, 14] },
  { B: 1, T: 130, H: 4, KV: 1, D: 12 },
  { B: 1, T: 21, H: 2, KV: 1, D: 128 },
  { B: 3, T: 9, H: 2, KV: 2, D: 30, lengths: [4, 9, 1] },
  // Peaky softmax (scores ~ ±40, large jumps of the running max) over left padding and holes.
  { B: 2, T: 20, H: 4, KV: 2, D: 8, maskRows: [LEFT_PADDED, HOLES], scale: 3 },
];

const tag = (c: Case) =>
  `B=${c.B} T=${c.T} H=${c.H} KV=${c.KV} D=${c.D}${c.lengths ? ` lengths=[${c.lengths}]` : ''}${c.maskRows ? ' masked' : ''}${c.scale ? ` scale=${c.scale}` : ''}`;

describe('attention (tolerance 1e-5 relative; lse 1e-5 absolute)', () => {
  it('the CPU backward matches finite differences of the CPU forward (GQA, padding)', () => {
    const d: AttentionDims = { B: 2, T: 4, H: 4, KV: 2, D: 3 };
    const opts: AttentionRefOptions = { mask: lengthsMask([4, 2], d.T), scale: 0.7 };
    const q = Float64Array.from(randn(d.B * d.T * d.H * d.D, 1));
    const k = Float64Array.from(randn(d.B * d.T * d.KV * d.D, 2));
    const v = Float64Array.from(randn(d.B * d.T * d.KV * d.D, 3));
    const dout = Float64Array.from(randn(d.B * d.T * d.H * d.D, 4));
    const loss = (qq: ArrayLike<number>, kk: ArrayLike<number>, vv: ArrayLike<number>) =>
      attentionForwardRef(qq, kk, vv, d, opts).out.reduce((s, x, i) => s + x * dout[i], 0);
    const g = attentionBackwardRef(q, k, v, dout, d, opts);
    expect(worst('attention ref dq vs finite differences', g.dq, finiteDiff((x) => loss(x, k, v), q))).toBeLessThan(1e-7);
    expect(worst('attention ref dk vs finite differences', g.dk, finiteDiff((x) => loss(q, x, v), k))).toBeLessThan(1e-7);
    expect(worst('attention ref dv vs finite differences', g.dv, finiteDiff((x) => loss(q, k, x), v))).toBeLessThan(1e-7);
  });

  for (const [n, c] of CASES.entries()) {
    it(`forward, lse and backward: ${tag(c)}`, async () => {
      const rt = await gpu();
      const { B, T, H, KV, D } = c;
      const x = inputs(c, 10 * n + 1);
      const tq = rt.upload(x.q, [B, T, H, D]);
      const tk = rt.upload(x.k, [B, T, KV, D]);
      const tv = rt.upload(x.v, [B, T, KV, D]);
      const tdo = rt.upload(x.dout, [B, T, H, D]);
      const keyMask = x.mask ? rt.upload(x.mask, [B, T]) : undefined;
      const ref = attentionForwardRef(x.q, x.k, x.v, c, { mask: x.mask, scale: c.scale });
      const { out, lse } = attentionForward(rt, tq, tk, tv, { keyMask, scale: c.scale });
      expect(worst(`attention out ${tag(c)}`, await rt.readF32(out), ref.out)).toBeLessThan(1e-5);
      expect(relErr(await rt.readF32(lse), ref.lse).abs).toBeLessThan(1e-5);

      const g = attentionBackwardRef(x.q, x.k, x.v, x.dout, c, { mask: x.mask, scale: c.scale });
      const { dq, dk, dv } = attentionBackward(rt, tq, tk, tv, out, lse, tdo, { keyMask, scale: c.scale });
      expect(worst(`attention dq ${tag(c)}`, await rt.readF32(dq), g.dq)).toBeLessThan(1e-5);
      expect(worst(`attention dk ${tag(c)}`, await rt.readF32(dk), g.dk)).toBeLessThan(1e-5);
      expect(worst(`attention dv ${tag(c)}`, await rt.readF32(dv), g.dv)).toBeLessThan(1e-5);
      for (const t of [tq, tk, tv, tdo, keyMask, out, lse, dq, dk, dv]) t?.dispose();
    });
  }

  it('matches model.py (eager attention, causal_mask, GQA expand) and torch autograd', async () => {
    const rt = await gpu();
    const c: Case = { B: 2, T: 11, H: 4, KV: 2, D: 8, lengths: [11, 6] };
    const { B, T, H, KV, D } = c;
    const x = inputs(c, 77);
    const script = `
import json, sys, torch
from retort_torch.model import attention, causal_mask
a = json.load(sys.stdin)
B, T, H, KV, D = a["dims"]
t = lambda n, heads: torch.tensor(a[n], dtype=torch.float64).view(B, T, heads, D).transpose(1, 2)
q, k, v = t("q", H).requires_grad_(), t("k", KV).requires_grad_(), t("v", KV).requires_grad_()
rep = H // KV
ke = k[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
ve = v[:, :, None].expand(B, KV, rep, T, D).reshape(B, H, T, D)
allowed = causal_mask(torch.tensor(a["mask"]).view(B, T), T, 0, q.device)
y = attention(q, ke, ve, allowed, "eager")  # [B, H, T, D]
(y * t("dout", H)).sum().backward()
flat = lambda z: z.transpose(1, 2).reshape(-1).tolist()
print(json.dumps({"out": flat(y.detach()), "dq": flat(q.grad), "dk": flat(k.grad), "dv": flat(v.grad)}))
`;
    const ref = torchJson<Record<'out' | 'dq' | 'dk' | 'dv', number[]>>(script, {
      dims: [B, T, H, KV, D], q: [...x.q], k: [...x.k], v: [...x.v], dout: [...x.dout], mask: [...x.mask!],
    });
    const tq = rt.upload(x.q, [B, T, H, D]);
    const tk = rt.upload(x.k, [B, T, KV, D]);
    const tv = rt.upload(x.v, [B, T, KV, D]);
    const tdo = rt.upload(x.dout, [B, T, H, D]);
    const keyMask = keyMaskFromLengths(rt, c.lengths!, T);
    const { out, lse } = attentionForward(rt, tq, tk, tv, { keyMask });
    const { dq, dk, dv } = attentionBackward(rt, tq, tk, tv, out, lse, tdo, { keyMask });
    expect(worst('attention out vs torch', await rt.readF32(out), ref.out)).toBeLessThan(1e-5);
    expect(worst('attention dq vs torch', await rt.readF32(dq), ref.dq)).toBeLessThan(1e-5);
    expect(worst('attention dk vs torch', await rt.readF32(dk), ref.dk)).toBeLessThan(1e-5);
    expect(worst('attention dv vs torch', await rt.readF32(dv), ref.dv)).toBeLessThan(1e-5);
    for (const t of [tq, tk, tv, tdo, keyMask, out, lse, dq, dk, dv]) t.dispose();
  });

  /** Rows [t0, t1) of a [B, T, heads, D] host array, as [B, t1 − t0, heads, D]. */
  function rowsOf(a: Float32Array, B: number, T: number, width: number, t0: number, t1: number): Float32Array {
    const out = new Float32Array(B * (t1 - t0) * width);
    for (let b = 0; b < B; b++) out.set(a.subarray((b * T + t0) * width, (b * T + t1) * width), b * (t1 - t0) * width);
    return out;
  }

  // Steps of new positions: a prefill, single tokens, then three at once.
  const DECODES: { c: Case; steps: number[]; keysPerSplit?: number }[] = [
    { c: { B: 1, T: 20, H: 4, KV: 2, D: 16 }, steps: [7, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1] },
    { c: { B: 2, T: 26, H: 2, KV: 1, D: 64 }, steps: [5, 1, 1, 1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], keysPerSplit: 8 },
    { c: { B: 2, T: 17, H: 3, KV: 3, D: 8, lengths: [17, 12] }, steps: [9, 1, 1, 1, 2, 1, 1, 1], keysPerSplit: 8 },
    { c: { B: 2, T: 20, H: 2, KV: 1, D: 8, maskRows: [LEFT_PADDED, HOLES], scale: 3 }, steps: [12, 1, 1, 4, 1, 1], keysPerSplit: 8 },
  ];
  for (const { c, steps, keysPerSplit } of DECODES) {
    it(`decode over a KV cache filled step by step equals the full forward: ${tag(c)}${keysPerSplit ? `, ${keysPerSplit} keys per split` : ''}`, async () => {
      const rt = await gpu();
      const { B, T, H, KV, D } = c;
      const L = T + 3; // spare rows the decode must ignore
      const x = inputs(c, 500 + T);
      const ref = attentionForwardRef(x.q, x.k, x.v, c, { mask: x.mask, scale: c.scale });
      const full = attentionForward(rt, rt.upload(x.q, [B, T, H, D]), rt.upload(x.k, [B, T, KV, D]), rt.upload(x.v, [B, T, KV, D]), {
        keyMask: x.mask ? rt.upload(x.mask, [B, T]) : undefined, scale: c.scale,
      });
      const fullOut = await rt.readF32(full.out);
      const cacheK = rt.upload(randn(B * L * KV * D, 9), [B, L, KV, D]); // garbage past the length
      const cacheV = rt.upload(randn(B * L * KV * D, 8), [B, L, KV, D]);
      const keyMask = x.mask ? rt.upload(new Uint32Array(B * L).map((_, i) => (i % L < T ? x.mask![Math.floor(i / L) * T + (i % L)] : 0)), [B, L]) : undefined;
      const got = new Float32Array(B * T * H * D);
      let past = 0;
      const pipelines = rt.stats.pipelines;
      for (const n of steps) {
        const rows = (a: Float32Array, w: number) => rowsOf(a, B, T, w * D, past, past + n);
        const k = rt.upload(rows(x.k, KV), [B, n, KV, D]);
        const v = rt.upload(rows(x.v, KV), [B, n, KV, D]);
        const q = rt.upload(rows(x.q, H), [B, n, H, D]);
        appendKv(rt, cacheK, cacheV, k, v, past);
        const out = attentionDecode(rt, q, cacheK, cacheV, past, { keyMask, keysPerSplit, scale: c.scale });
        const o = await rt.readF32(out);
        for (let b = 0; b < B; b++) got.set(o.subarray(b * n * H * D, (b + 1) * n * H * D), (b * T + past) * H * D);
        for (const t of [k, v, q, out]) t.dispose();
        past += n;
      }
      expect(past).toBe(T);
      expect(worst(`decode vs reference ${tag(c)}`, got, ref.out)).toBeLessThan(1e-5);
      expect(worst(`decode vs GPU forward ${tag(c)}`, got, fullOut)).toBeLessThan(1e-5);
      // The first step may compile the forward (and combine); the growing cache compiles nothing more.
      expect(rt.stats.pipelines - pipelines).toBeLessThanOrEqual(2);
      for (const t of [cacheK, cacheV, keyMask, full.out, full.lse]) t?.dispose();
    });
  }

  it('a long sequence needs no [T, T] buffer: forward holds out + lse, backward the gradients + row stats', async () => {
    const rt = await gpu();
    const c: Case = { B: 1, T: 320, H: 2, KV: 1, D: 8 };
    const { B, T, H, KV, D } = c;
    const x = inputs(c, 42);
    const tq = rt.upload(x.q, [B, T, H, D]);
    const tk = rt.upload(x.k, [B, T, KV, D]);
    const tv = rt.upload(x.v, [B, T, KV, D]);
    const tdo = rt.upload(x.dout, [B, T, H, D]);
    const scoresBytes = B * H * T * T * 4;
    const base = rt.pool.inUseBytes;
    rt.pool.resetPeak();
    const { out, lse } = attentionForward(rt, tq, tk, tv);
    const fwdPeak = rt.pool.peakInUseBytes - base;
    rt.pool.resetPeak();
    const { dq, dk, dv } = attentionBackward(rt, tq, tk, tv, out, lse, tdo);
    const bwdPeak = rt.pool.peakInUseBytes - base;
    console.log(`attention T=${T}: forward peak ${fwdPeak} B, backward peak ${bwdPeak} B; the scores alone would be ${scoresBytes} B`);
    const act = B * T * H * D * 4; // one [B, T, H, D] activation
    expect(fwdPeak).toBeLessThan(1.2 * (act + B * H * T * 4) + 256);
    expect(bwdPeak).toBeLessThan(1.2 * (4 * act + 3 * B * H * T * 4) + 256);
    expect(bwdPeak).toBeLessThan(scoresBytes / 10);

    const ref = attentionForwardRef(x.q, x.k, x.v, c);
    expect(worst(`attention out T=${T}`, await rt.readF32(out), ref.out)).toBeLessThan(1e-5);
    const g = attentionBackwardRef(x.q, x.k, x.v, x.dout, c);
    expect(worst(`attention dq T=${T}`, await rt.readF32(dq), g.dq)).toBeLessThan(1e-5);
    expect(worst(`attention dk T=${T}`, await rt.readF32(dk), g.dk)).toBeLessThan(1e-5);
    expect(worst(`attention dv T=${T}`, await rt.readF32(dv), g.dv)).toBeLessThan(1e-5);
    for (const t of [tq, tk, tv, tdo, out, lse, dq, dk, dv]) t.dispose();
  });

  it('attentionProbs: chosen rows of one batch row, padding included', async () => {
    const rt = await gpu();
    const c: Case = { B: 2, T: 150, H: 4, KV: 2, D: 16, lengths: [150, 131] };
    const { B, T, H, KV, D } = c;
    const x = inputs(c, 3);
    const P = attentionProbsRef(x.q, x.k, c, { mask: x.mask }); // [B, H, T, T]
    const rows = [0, 5, 129, 130, 149];
    const keyMask = rt.upload(x.mask!, [B, T]);
    const tq = rt.upload(x.q, [B, T, H, D]);
    const tk = rt.upload(x.k, [B, T, KV, D]);
    for (const b of [0, 1]) {
      const probs = await rt.readF32(attentionProbs(rt, tq, tk, b, rows, { keyMask })); // [H, R, T]
      const ref = new Float64Array(H * rows.length * T);
      for (let h = 0; h < H; h++) {
        rows.forEach((t, i) => ref.set(P.subarray(((b * H + h) * T + t) * T, ((b * H + h) * T + t + 1) * T), (h * rows.length + i) * T));
      }
      expect(worst(`attention probs b=${b}`, probs, ref)).toBeLessThan(1e-5);
    }
    for (const t of [keyMask, tq, tk]) t.dispose();
  });

  it('refuses bad shapes, masks and cache positions with the tensor named', async () => {
    const rt = await gpu();
    const t = (shape: number[], dtype: 'f32' | 'u32' = 'f32') => rt.empty(shape, dtype, 'x');
    const q = t([1, 4, 3, 8]);
    const k = t([1, 4, 2, 8]);
    expect(() => attentionForward(rt, q, k, k)).toThrow(/3 query heads .* not a multiple of 2 kv heads/);
    expect(() => attentionForward(rt, t([1, 4, 2, 160]), t([1, 4, 1, 160]), t([1, 4, 1, 160]))).toThrow(/head_dim 160/);
    expect(() => attentionForward(rt, t([1, 4, 2, 8]), t([1, 5, 1, 8]), t([1, 5, 1, 8]))).toThrow(/attentionForward: k x\[1,5,1,8\]/);
    expect(() => attentionForward(rt, t([1, 4, 2, 8]), t([1, 4, 1, 8]), t([1, 4, 1, 8]), { keyMask: t([1, 3], 'u32') })).toThrow(/keyMask x\[1,3\]:u32/);
    expect(() => attentionForward(rt, t([1, 4, 2, 8]), t([1, 4, 1, 8]), t([1, 4, 1, 8]), { keyMask: t([1, 4]) })).toThrow(/keyMask .* must be a u32/);
    const [qq, kk] = [t([1, 4, 2, 8]), t([1, 4, 1, 8])];
    const { out, lse } = attentionForward(rt, qq, kk, kk);
    expect(() => attentionBackward(rt, qq, kk, kk, out, lse, t([1, 4, 2, 7]))).toThrow(/attentionBackward: dout x\[1,4,2,7\]/);
    expect(() => attentionBackward(rt, qq, kk, kk, out, t([1, 2, 3]), out)).toThrow(/lse x\[1,2,3\]/);
    const cache = t([1, 6, 1, 8]);
    expect(() => appendKv(rt, cache, cache, t([1, 2, 1, 8]), t([1, 2, 1, 8]), 5)).toThrow(/5 cached \+ 2 new positions exceed the cache's 6/);
    expect(() => appendKv(rt, cache, cache, t([1, 2, 2, 8]), t([1, 2, 2, 8]), 0)).toThrow(/appendKv: k x\[1,2,2,8\]/);
    expect(() => attentionDecode(rt, t([1, 1, 2, 8]), cache, cache, 6)).toThrow(/6 cached \+ 1 new positions/);
    expect(() => attentionDecode(rt, t([1, 1, 2, 8]), cache, cache, 2, { keysPerSplit: 12 })).toThrow(/keysPerSplit 12/);
    expect(() => attentionProbs(rt, qq, kk, 1, [0])).toThrow(/batch row 1/);
    expect(() => attentionProbs(rt, qq, kk, 0, [4])).toThrow(/query row 4/);
    expect(() => keyMaskFromLengths(rt, [3, 9], 8)).toThrow(/lengths\[1\] = 9/);
    await rt.sync();
  });
});
