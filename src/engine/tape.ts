import type { Tensor } from './tensor.ts';
import type { Runtime } from './runtime.ts';

/**
 * Tape-based reverse-mode autograd over GPU tensors. Ops append an entry when any input requires a
 * gradient; `backward` walks the tape in reverse and calls each op's rule from `BACKWARD` (ops.ts),
 * a table typed over every op so a new op does not compile until it has a rule.
 */
export interface TapeEntry<Op extends string = string, Saved = unknown> {
  readonly op: Op;
  readonly inputs: readonly (Tensor | null)[];
  readonly outputs: readonly Tensor[];
  readonly saved: Saved;
}

/** Where a rule should write an input's gradient: straight into a parameter's `.grad` when it has one. */
export interface GradTarget {
  out?: Tensor;
  accumulate: boolean;
}

export interface BackwardContext {
  readonly rt: Runtime;
  /** Whether input `i` of the current entry needs a gradient. */
  needs(i: number): boolean;
  /** The buffer to accumulate input `i`'s gradient into, when it is a leaf with a `.grad`. */
  target(i: number): GradTarget;
}

/** A rule returns one gradient per input (null where none is needed). */
export type BackwardRule<Saved> = (ctx: BackwardContext, saved: Saved, gradOutputs: readonly Tensor[], entry: TapeEntry<string, Saved>) => (Tensor | null)[];

export class Tape {
  private readonly entries: TapeEntry[] = [];
  /** Tensors the tape owns (activations, saved values) and disposes after backward. */
  private readonly owned = new Set<Tensor>();

  record<Op extends string, Saved>(op: Op, inputs: readonly (Tensor | null)[], outputs: readonly Tensor[], saved: Saved): void {
    this.entries.push({ op, inputs, outputs, saved });
    for (const o of outputs) o.requiresGrad = true;
  }

  /** Hands a tensor to the tape: it is disposed when the tape is. */
  own<T extends Tensor>(t: T): T {
    this.owned.add(t);
    return t;
  }

  get length(): number {
    return this.entries.length;
  }

  /**
   * Back-propagates from `seeds` (tensor → its gradient). Leaf tensors with `requiresGrad` receive
   * their gradient in `.grad` (accumulated when `.grad` exists, e.g. over micro-batches).
   */
  backward(rt: Runtime, seeds: ReadonlyMap<Tensor, Tensor>, rules: Record<string, BackwardRule<never>>): void {
    // Gradients are keyed by buffer, not by Tensor object, so a reshaped view and its base share one.
    const grads = new Map<GPUBuffer, Tensor>();
    const seedGrads = new Set<Tensor>(seeds.values());
    for (const [t, g] of seeds) grads.set(t.buffer, g);
    const produced = new Set<GPUBuffer>();
    for (const e of this.entries) for (const o of e.outputs) produced.add(o.buffer);
    const leaves = new Map<GPUBuffer, Tensor>();
    const isLeaf = (t: Tensor) => t.requiresGrad && !produced.has(t.buffer);

    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      // A gradient may have arrived through a reshaped view: give it the output's own shape.
      const gOut = e.outputs.map((o) => {
        const g = grads.get(o.buffer);
        if (!g || sameShape(g.shape, o.shape) || seedGrads.has(g)) return g;
        const shaped = g.adoptShape(o.shape);
        grads.set(o.buffer, shaped);
        return shaped;
      });
      if (gOut.every((g) => !g)) continue;
      const filled = e.outputs.map((o, j) => gOut[j] ?? rt.zeros(o.shape, 'f32', 'zero-grad'));
      const ctx: BackwardContext = {
        rt,
        needs: (k) => !!e.inputs[k]?.requiresGrad,
        target: (k) => {
          const t = e.inputs[k];
          if (t && isLeaf(t) && t.grad && !grads.has(t.buffer)) return { out: t.grad, accumulate: true };
          return { accumulate: false };
        },
      };
      const rule = rules[e.op] as BackwardRule<unknown>;
      const gIn = rule(ctx, e.saved, filled, e);
      for (let j = 0; j < e.outputs.length; j++) {
        grads.delete(e.outputs[j].buffer);
        // A rule may pass an output gradient straight through (add, reshape): ownership moves with it.
        if (!seedGrads.has(filled[j]) && !gIn.includes(filled[j])) filled[j].dispose();
      }
      e.inputs.forEach((inp, k) => {
        const g = gIn[k];
        if (!inp || !g || !inp.requiresGrad) {
          if (g && g !== inp?.grad) g.dispose();
          return;
        }
        if (g === inp.grad) return; // written in place by the rule
        if (isLeaf(inp)) leaves.set(inp.buffer, inp);
        const prev = grads.get(inp.buffer);
        if (prev) {
          accumulateInto(rt, prev, g);
          g.dispose();
        } else grads.set(inp.buffer, g);
      });
    }
    // Leaves whose gradients arrived as fresh tensors (no preallocated .grad).
    for (const [buf, g] of grads) {
      const leaf = leaves.get(buf);
      if (seedGrads.has(g)) continue;
      if (!leaf) {
        g.dispose();
        continue;
      }
      if (leaf.grad) {
        accumulateInto(rt, leaf.grad, g);
        g.dispose();
      } else leaf.grad = g.shape.length === leaf.shape.length ? g : adopt(g, leaf.shape);
    }
  }

  dispose(): void {
    for (const e of this.entries) {
      for (const o of e.outputs) if (!o.isDisposed) this.owned.add(o);
    }
    for (const t of this.owned) t.dispose();
    this.owned.clear();
    this.entries.length = 0;
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Gives a gradient the shape of its leaf (same element count) without copying. */
function adopt(g: Tensor, shape: readonly number[]): Tensor {
  return g.adoptShape(shape);
}

let accumulateImpl: ((rt: Runtime, dst: Tensor, src: Tensor) => void) | null = null;

/** Installed by ops.ts (dst += src) so the tape itself stays free of kernels. */
export function setAccumulate(fn: (rt: Runtime, dst: Tensor, src: Tensor) => void): void {
  accumulateImpl = fn;
}

function accumulateInto(rt: Runtime, dst: Tensor, src: Tensor): void {
  if (!accumulateImpl) throw new Error('autograd: no accumulate kernel installed (import ops.ts)');
  accumulateImpl(rt, dst, src);
}
