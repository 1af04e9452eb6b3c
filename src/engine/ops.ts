/**
 * Differentiable ops: each runs its forward kernel and, when a tape is recording and an input needs a
 * gradient, records what its backward rule needs. The rules live in one table, `BACKWARD`, typed over
 * every op (`satisfies`): adding an op without a rule does not compile.
 */
import type { Runtime } from './runtime.ts';
import type { Tensor } from './tensor.ts';
import { Tape, setAccumulate, type BackwardRule } from './tape.ts';
import { matmul } from './kernels/matmul.ts';
import { embeddingForward, embeddingBackward, groupIds } from './kernels/embedding.ts';
import { rmsnormForward, rmsnormBackward } from './kernels/rmsnorm.ts';
import { ropeForward, ropeBackward } from './kernels/rope.ts';
import { swigluForward, swigluBackward } from './kernels/swiglu.ts';
import { add as addKernel, addInPlace, addBias, biasGrad } from './kernels/elementwise.ts';
import { attentionForward, attentionBackward, attentionDecode, appendKv } from './kernels/attention.ts';
import { fakeQuantForward } from './kernels/fake_quant.ts';
import type { QuantGrid } from '../core/quant.ts';
import type { LoraPair } from './model/lora.ts';
import type { KvCache } from './model/kv-cache.ts';

export interface OpContext {
  rt: Runtime;
  tape?: Tape;
}

setAccumulate((rt, dst, src) => addInPlace(rt, dst, src, 1));

/** Hands a tensor's lifetime to the tape when recording. */
export function keep<T extends Tensor>(ctx: OpContext, t: T): T {
  return ctx.tape ? ctx.tape.own(t) : t;
}

/** Frees intermediates right away in inference; while recording, the tape frees them after backward. */
export function release(ctx: OpContext, ...ts: (Tensor | undefined)[]): void {
  if (ctx.tape) return;
  for (const t of ts) t?.dispose();
}

const anyGrad = (...ts: (Tensor | null | undefined)[]) => ts.some((t) => t?.requiresGrad);
const recording = (ctx: OpContext, ...ts: (Tensor | null | undefined)[]) => !!ctx.tape && anyGrad(...ts);

// ---- ops ----------------------------------------------------------------------------------------

/** x = table[ids] — ids [N] (i32) → [N, C]. */
export function embedding(ctx: OpContext, ids: Tensor, idsHost: Int32Array, table: Tensor): Tensor {
  const y = embeddingForward(ctx.rt, ids, table);
  if (recording(ctx, table)) ctx.tape!.record('embedding', [null, table], [y], { groups: groupIds(idsHost), table });
  return y;
}

/** Ŵ = W on its quantization grid (QAT, src/core/quant.ts) — W [out, in] → [out, in]. */
export function fakeQuant(ctx: OpContext, w: Tensor, grid: QuantGrid): Tensor {
  const wq = fakeQuantForward(ctx.rt, w, grid);
  if (recording(ctx, w)) ctx.tape!.record('fakeQuant', [w], [wq], {});
  else keep(ctx, wq);
  return wq;
}

/** y = x Wᵀ + b (+ LoRA: scale · (x Aᵀ) Bᵀ) — x [N, in], W [out, in] → [N, out]. */
export function linear(ctx: OpContext, x: Tensor, w: Tensor, b?: Tensor, lora?: LoraPair): Tensor {
  const { rt } = ctx;
  const y = matmul(rt, x, w, { transB: true });
  if (b) addBias(rt, y, b);
  let xa: Tensor | null = null;
  if (lora) {
    xa = matmul(rt, x, lora.A, { transB: true }); // [N, r]
    matmul(rt, xa, lora.B, { transB: true, accumulate: true, alpha: lora.scale, out: y });
  }
  if (recording(ctx, x, w, b, lora?.A, lora?.B)) {
    if (xa) ctx.tape!.own(xa);
    ctx.tape!.record('linear', [x, w, b ?? null, lora?.A ?? null, lora?.B ?? null], [y], { x, w, xa, scale: lora?.scale ?? 0 });
  } else xa?.dispose();
  return y;
}

/** y = x · rsqrt(mean(x²) + eps) · w — x [N, C], w [C]. */
export function rmsnorm(ctx: OpContext, x: Tensor, w: Tensor, eps: number): Tensor {
  const { y, rstd } = rmsnormForward(ctx.rt, x, w, eps);
  if (recording(ctx, x, w)) ctx.tape!.record('rmsnorm', [x, w], [y], { x, w, rstd: ctx.tape!.own(rstd) });
  else rstd.dispose();
  return y;
}

/** Rotary embedding (HF rotate_half layout) — x [N, H, D], positions [N]. */
export function rope(ctx: OpContext, x: Tensor, positions: Tensor, invFreq: Tensor, scale = 1): Tensor {
  const y = ropeForward(ctx.rt, x, positions, invFreq, { scale });
  if (recording(ctx, x)) ctx.tape!.record('rope', [x], [y], { positions, invFreq, scale });
  return y;
}

/** Causal GQA attention — q [B, T, H, D], k/v [B, T, KV, D] → [B, T, H, D]. */
export function attention(ctx: OpContext, q: Tensor, k: Tensor, v: Tensor): Tensor {
  const { out, lse } = attentionForward(ctx.rt, q, k, v);
  if (recording(ctx, q, k, v)) ctx.tape!.record('attention', [q, k, v], [out], { q, k, v, out, lse: ctx.tape!.own(lse) });
  else lse.dispose();
  return out;
}

/** Attention over a KV cache (generation, no gradient): appends k/v at the cache's length first. */
export function attentionCached(ctx: OpContext, q: Tensor, k: Tensor, v: Tensor, cache: KvCache, layer: number): Tensor {
  if (ctx.tape) throw new Error('attention with a KV cache is inference-only');
  appendKv(ctx.rt, cache.keys[layer], cache.values[layer], k, v, cache.length);
  return attentionDecode(ctx.rt, q, cache.keys[layer], cache.values[layer], cache.length);
}

/** h = silu(gate) · up — [N, I]. */
export function swiglu(ctx: OpContext, gate: Tensor, up: Tensor): Tensor {
  const y = swigluForward(ctx.rt, gate, up);
  if (recording(ctx, gate, up)) ctx.tape!.record('swiglu', [gate, up], [y], { gate, up });
  return y;
}

/** a + b (residual). */
export function add(ctx: OpContext, a: Tensor, b: Tensor): Tensor {
  const y = addKernel(ctx.rt, a, b);
  if (recording(ctx, a, b)) ctx.tape!.record('add', [a, b], [y], {});
  return y;
}

/** Logits for inference: hidden [N, C] · headᵀ → [N, V]. */
export function logits(rt: Runtime, hidden: Tensor, head: Tensor): Tensor {
  return matmul(rt, hidden, head, { transB: true });
}

// ---- backward rules -------------------------------------------------------------------------------

interface Saved {
  embedding: { groups: ReturnType<typeof groupIds>; table: Tensor };
  fakeQuant: Record<string, never>;
  linear: { x: Tensor; w: Tensor; xa: Tensor | null; scale: number };
  rmsnorm: { x: Tensor; w: Tensor; rstd: Tensor };
  rope: { positions: Tensor; invFreq: Tensor; scale: number };
  attention: { q: Tensor; k: Tensor; v: Tensor; out: Tensor; lse: Tensor };
  swiglu: { gate: Tensor; up: Tensor };
  add: Record<string, never>;
}

export type OpName = keyof Saved;

export const BACKWARD = {
  // dTable[ids[n]] += dy[n]
  embedding: (ctx, s, [dy]) => {
    const t = ctx.target(1);
    return [null, embeddingBackward(ctx.rt, dy, s.groups, s.table.shape, t.out, t.accumulate)];
  },
  // straight-through estimator: dW = dŴ everywhere (each weight lies inside its own group's range)
  fakeQuant: (_ctx, _s, [dwq]) => [dwq],
  // y = x Wᵀ + b + s (x Aᵀ) Bᵀ:  dx = dy W + s (dy B) A;  dW = dyᵀ x;  db = Σ dy;  dB = s dyᵀ (x Aᵀ);  dA = s (dy B)ᵀ x
  linear: (ctx, s, [dy], e) => {
    const { rt } = ctx;
    const [, w, b, A, B] = e.inputs;
    let dx: Tensor | null = null;
    let dyB: Tensor | null = null;
    if (A && B && (ctx.needs(0) || ctx.needs(3))) dyB = matmul(rt, dy, B); // [N, r]
    if (ctx.needs(0)) {
      dx = matmul(rt, dy, w!); // [N, in]
      if (dyB && A) matmul(rt, dyB, A, { accumulate: true, alpha: s.scale, out: dx });
    }
    const grad = (i: number, f: (out: Tensor | undefined, acc: boolean) => Tensor) => {
      if (!ctx.needs(i)) return null;
      const t = ctx.target(i);
      return f(t.out, t.accumulate);
    };
    const dw = grad(1, (out, accumulate) => matmul(rt, dy, s.x, { transA: true, out, accumulate }));
    const db = grad(2, (out, accumulate) => biasGrad(rt, dy, out, accumulate));
    const dA = grad(3, (out, accumulate) => matmul(rt, dyB!, s.x, { transA: true, alpha: s.scale, out, accumulate }));
    const dB = grad(4, (out, accumulate) => matmul(rt, dy, s.xa!, { transA: true, alpha: s.scale, out, accumulate }));
    dyB?.dispose();
    void b;
    return [dx, dw, db, dA, dB];
  },
  rmsnorm: (ctx, s, [dy]) => {
    const t = ctx.target(1);
    const { dx, dw } = rmsnormBackward(ctx.rt, dy, s.x, s.w, s.rstd, { needWeight: ctx.needs(1), out: t.out, accumulate: t.accumulate });
    return [dx, dw];
  },
  // rotation by −θ
  rope: (ctx, s, [dy]) => [ropeBackward(ctx.rt, dy, s.positions, s.invFreq, { scale: s.scale })],
  attention: (ctx, s, [dout]) => {
    const { dq, dk, dv } = attentionBackward(ctx.rt, s.q, s.k, s.v, s.out, s.lse, dout);
    return [dq, dk, dv];
  },
  // d/dg silu(g)·u = σ(g)(1 + g(1 − σ(g)))·u ;  d/du = silu(g)
  swiglu: (ctx, s, [dy]) => {
    const { dgate, dup } = swigluBackward(ctx.rt, dy, s.gate, s.up);
    return [dgate, dup];
  },
  // both inputs receive dy: the first takes dy itself, the second a copy (each gradient has one owner)
  add: (ctx, _s, [dy]) => {
    const copy = ctx.rt.empty(dy.shape);
    ctx.rt.copy(dy, copy);
    return [dy, copy];
  },
} satisfies { [P in OpName]: BackwardRule<Saved[P]> };

/** Rows [start, start + count) of a [N, C] tensor, copied into a new [count, C] tensor. */
export function sliceRows(rt: Runtime, t: Tensor, start: number, count: number): Tensor {
  const C = t.shape[t.shape.length - 1];
  const out = rt.empty([count, C], t.dtype, t.name);
  rt.copy(t, out, start * C * 4, 0, count * C * 4);
  return out;
}
