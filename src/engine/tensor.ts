import type { Runtime } from './runtime.ts';

/** Element types. `f16` and `bf16` are packed two per u32 and unpacked in the shader (no `shader-f16` needed). */
export type DType = 'f32' | 'i32' | 'u32' | 'f16' | 'bf16';

export function bytesFor(dtype: DType, elements: number): number {
  return dtype === 'f16' || dtype === 'bf16' ? Math.ceil(elements / 2) * 4 : elements * 4;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/**
 * A GPU tensor: a buffer from the runtime's pool, a shape and a dtype. Contiguous, row-major.
 * Tensors are disposed explicitly; `persistent` ones (weights, optimizer state) live until their model goes.
 */
export class Tensor {
  /** Set on leaves the optimizer updates; the tape records ops only when an input requires grad. */
  requiresGrad = false;
  grad: Tensor | null = null;
  private disposed = false;

  constructor(
    readonly rt: Runtime,
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: DType = 'f32',
    readonly name = '',
  ) {}

  get size(): number {
    return numel(this.shape);
  }

  get bytes(): number {
    return bytesFor(this.dtype, this.size);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** A view of the same buffer with another shape of the same element count (no copy). */
  reshape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new Error(`reshape ${this.describe()} → [${shape}]: element counts differ`);
    return this.view(shape);
  }

  /**
   * A non-owning view of the buffer's first numel(shape) elements (bindings start at offset 0, so a
   * prefix is the view kernels can take). Disposing a view does nothing; the owner frees the buffer.
   */
  view(shape: readonly number[]): Tensor {
    if (numel(shape) > this.size) throw new Error(`view ${this.describe()} → [${shape}]: more elements than the tensor holds`);
    const view = new Tensor(this.rt, this.buffer, shape, this.dtype, this.name);
    view.disposed = true; // a view never returns the buffer to the pool
    view.requiresGrad = this.requiresGrad; // and is part of the same graph
    return view;
  }

  /** Moves this tensor's buffer into a new Tensor of another shape; this one becomes empty. */
  adoptShape(shape: readonly number[]): Tensor {
    if (numel(shape) !== this.size) throw new Error(`adoptShape ${this.describe()} → [${shape}]: element counts differ`);
    if (this.disposed) throw new Error(`adoptShape: ${this.describe()} is disposed or a view`);
    this.disposed = true;
    return new Tensor(this.rt, this.buffer, shape, this.dtype, this.name);
  }

  describe(): string {
    return `${this.name || 'tensor'}[${this.shape.join(',')}]:${this.dtype}`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.rt.pool.release(this.buffer);
    this.grad?.dispose();
    this.grad = null;
  }
}
