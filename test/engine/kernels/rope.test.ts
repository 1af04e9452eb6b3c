import { torchJson } from '../../helpers/python.ts';
import { describe, expect, it } from 'vitest';
import { gpu } from '../../helpers/gpu.ts';
import { finiteDiff, randn, relErr, worst } from '../../helpers/numeric.ts';
import { ropeAttentionFactor, ropeBackward, ropeForward, ropeInvFreq, type RopeSpec } from '../../../src/engine/kernels/rope.ts';
import { ropeBackwardRef, ropeForwardRef } from '../../../src/engine/kernels/rope.ref.ts';


const SPECS: Record<string, RopeSpec> = {
  'qwen2 default θ=1e6 D=64': { headDim: 64, ropeTheta: 1e6, maxPositions: 32768, ropeScaling: { type: 'none' } },
  'llama default θ=1e4 D=10': { headDim: 10, ropeTheta: 1e4, maxPositions: 2048, ropeScaling: { type: 'none' } },
  'linear ×4': { headDim: 128, ropeTheta: 1e4, maxPositions: 8192, ropeScaling: { type: 'linear', factor: 4 } },
  'llama3.1': {
    headDim: 128, ropeTheta: 500000, maxPositions: 131072,
    ropeScaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  },
  'llama3.2 factor 32': {
    headDim: 64, ropeTheta: 500000, maxPositions: 131072,
    ropeScaling: { type: 'llama3', factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 },
  },
  'yarn ×4': {
    headDim: 128, ropeTheta: 1e6, maxPositions: 131072,
    ropeScaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 32768, betaFast: 32, betaSlow: 1 },
  },
};

function toTorchScaling(spec: RopeSpec): Record<string, unknown> | null {
  const s = spec.ropeScaling;
  switch (s.type) {
    case 'none': return null;
    case 'linear': return { rope_type: 'linear', factor: s.factor };
    case 'llama3': return {
      rope_type: 'llama3', factor: s.factor, low_freq_factor: s.lowFreqFactor, high_freq_factor: s.highFreqFactor,
      original_max_position_embeddings: s.originalMaxPositionEmbeddings,
    };
    case 'yarn': return {
      rope_type: 'yarn', factor: s.factor, original_max_position_embeddings: s.originalMaxPositionEmbeddings,
      beta_fast: s.betaFast, beta_slow: s.betaSlow,
    };
  }
}

describe('ropeInvFreq (matches the torch worker, ≤ 1 f32 ulp)', () => {
  it('default, linear, llama3 and yarn frequencies and attention factors', () => {
    const names = Object.keys(SPECS);
    const torch = torchJson<{ inv: number[]; factor: number }[]>(
      `
import json, sys
from retort_torch.config import RopeScaling
from retort_torch.model import rope_inv_freq
out = []
for c in json.load(sys.stdin):
    scaling = None if c["scaling"] is None else RopeScaling(**c["scaling"])
    inv, factor = rope_inv_freq(c["dim"], c["theta"], scaling, c["max"])
    out.append({"inv": inv.tolist(), "factor": factor})
print(json.dumps(out))
`,
      names.map((n) => ({ dim: SPECS[n].headDim, theta: SPECS[n].ropeTheta, max: SPECS[n].maxPositions, scaling: toTorchScaling(SPECS[n]) })),
    );
    names.forEach((name, k) => {
      const inv = ropeInvFreq(SPECS[name]);
      expect(inv.length).toBe(SPECS[name].headDim / 2);
      // relative to each frequency (they span 6 decades), not to the largest
      let ulps = 0;
      inv.forEach((v, i) => (ulps = Math.max(ulps, Math.abs(v - torch[k].inv[i]) / (Math.abs(torch[k].inv[i]) * 2 ** -23))));
      console.log(`ropeInvFreq ${name}: worst ${ulps.toFixed(2)} ulp`);
      expect(ulps).toBeLessThanOrEqual(1);
      expect(ropeAttentionFactor(SPECS[name])).toBeCloseTo(torch[k].factor, 12);
    });
  });

  it('rejects an odd head dim', () => {
    expect(() => ropeInvFreq({ ...SPECS['llama default θ=1e4 D=10'], headDim: 7 })).toThrow('ropeInvFreq: head_dim 7 must be a positive even integer');
  });
});

// [N, H, D] with positions up to 10⁵ (θ ≈ 10⁵ rad at i = 0: the argument reduction must hold).
const CASES: { N: number; H: number; D: number; positions: number[]; spec: string }[] = [
  { N: 7, H: 3, D: 10, positions: [0, 1, 2, 7, 100, 4097, 65535], spec: 'llama default θ=1e4 D=10' },
  { N: 5, H: 2, D: 64, positions: [3, 32767, 131071, 99999, 12], spec: 'qwen2 default θ=1e6 D=64' },
  { N: 4, H: 1, D: 128, positions: [0, 8191, 70000, 1], spec: 'llama3.1' },
  { N: 3, H: 5, D: 2, positions: [17, 0, 40000], spec: 'llama default θ=1e4 D=10' },
];

describe('rope forward and backward (tolerance 1e-6 relative)', () => {
  it('the CPU backward matches finite differences of the CPU forward', () => {
    const [N, H, D] = [3, 2, 6];
    const positions = [0, 5, 900];
    const invFreq = ropeInvFreq({ headDim: D, ropeTheta: 1e4, maxPositions: 1024, ropeScaling: { type: 'none' } });
    const dy = Float64Array.from(randn(N * H * D, 5));
    const loss = (x: Float64Array) => ropeForwardRef(x, positions, invFreq, N, H, D, 1.3).reduce((s, v, i) => s + v * dy[i], 0);
    const fd = finiteDiff(loss, Float64Array.from(randn(N * H * D, 6)));
    expect(worst('rope ref backward vs finite differences', ropeBackwardRef(dy, positions, invFreq, N, H, D, 1.3), fd)).toBeLessThan(1e-8);
  });

  for (const { N, H, D, positions, spec } of CASES) {
    it(`x [${N}, ${H}, ${D}], positions up to ${Math.max(...positions)}`, async () => {
      const rt = await gpu();
      const inv = D === SPECS[spec].headDim ? ropeInvFreq(SPECS[spec]) : ropeInvFreq({ ...SPECS[spec], headDim: D });
      const x = randn(N * H * D, N + H + D);
      const dy = randn(N * H * D, N * H * D);
      const tx = rt.upload(x, [N, H, D]);
      const tdy = rt.upload(dy, [N, H, D]);
      const tpos = rt.upload(Int32Array.from(positions), [N]);
      const tinv = rt.upload(inv, [D / 2]);
      const y = ropeForward(rt, tx, tpos, tinv);
      const dx = ropeBackward(rt, tdy, tpos, tinv);
      const scaled = ropeForward(rt, tx, tpos, tinv, { scale: 1.25 });
      expect(worst(`rope y [${N},${H},${D}]`, await rt.readF32(y), ropeForwardRef(x, positions, inv, N, H, D))).toBeLessThan(1e-6);
      expect(worst(`rope dx [${N},${H},${D}]`, await rt.readF32(dx), ropeBackwardRef(dy, positions, inv, N, H, D))).toBeLessThan(1e-6);
      expect(worst(`rope scaled [${N},${H},${D}]`, await rt.readF32(scaled), ropeForwardRef(x, positions, inv, N, H, D, 1.25))).toBeLessThan(1e-6);
      for (const t of [tx, tdy, tpos, tinv, y, dx, scaled]) t.dispose();
    });
  }

  it("matches the torch worker's rope_cos_sin + apply_rope", async () => {
    const rt = await gpu();
    const [N, H, D] = [6, 2, 64];
    const spec = SPECS['llama3.1'];
    const positions = [0, 1, 511, 8200, 30000, 100000];
    const x = randn(N * H * D, 99);
    const torch = torchJson<{ y: number[] }>(
      `
import json, sys, torch
from retort_torch.config import RopeScaling
from retort_torch.model import rope_inv_freq, rope_cos_sin, apply_rope
d = json.load(sys.stdin)
inv, factor = rope_inv_freq(d["D"], d["theta"], RopeScaling(**d["scaling"]), d["max"])
cos, sin = rope_cos_sin(inv, torch.tensor([d["positions"]]), factor, torch.float32)  # [1, N, D]
x = torch.tensor(d["x"], dtype=torch.float32).view(1, d["N"], d["H"], d["D"]).transpose(1, 2)  # [1, H, N, D]
y = apply_rope(x, cos, sin).transpose(1, 2)  # [1, N, H, D]
print(json.dumps({"y": y.flatten().tolist()}))
`,
      { N, H, D, positions, x: Array.from(x), theta: spec.ropeTheta, max: spec.maxPositions, scaling: toTorchScaling({ ...spec, headDim: D }) },
    );
    const tx = rt.upload(x, [N, H, D]);
    const tpos = rt.upload(Int32Array.from(positions), [N]);
    const tinv = rt.upload(ropeInvFreq({ ...spec, headDim: D }), [D / 2]);
    const y = ropeForward(rt, tx, tpos, tinv);
    expect(worst('rope y vs torch', await rt.readF32(y), torch.y)).toBeLessThan(1e-6);
    for (const t of [tx, tpos, tinv, y]) t.dispose();
  });

  it('names the tensors in shape errors', async () => {
    const rt = await gpu();
    const q = rt.zeros([4, 2, 8], 'f32', 'q');
    const pos = rt.zeros([4], 'i32', 'positions');
    const posF = rt.zeros([4], 'f32', 'posF');
    const inv = rt.zeros([4], 'f32', 'inv_freq');
    const inv3 = rt.zeros([3], 'f32', 'inv_freq');
    expect(() => ropeForward(rt, q.reshape([8, 8]), pos, inv)).toThrow('ropeForward: q[8,8]:f32 must be an f32 [N, H, D]');
    expect(() => ropeForward(rt, q, posF, inv)).toThrow('ropeForward: positions posF[4]:f32 should be [4]:i32 for q[4,2,8]:f32');
    expect(() => ropeBackward(rt, q, pos, inv3)).toThrow('ropeBackward: invFreq inv_freq[3]:f32 should be [4]:f32 for q[4,2,8]:f32');
    for (const t of [q, pos, posF, inv, inv3]) t.dispose();
  });
});
