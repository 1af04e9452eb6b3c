import { BufferPool } from './pool.ts';
import { describeEnv, wantedFeatures, wantedLimits, type GpuEnv } from './env.ts';
import { buildShader, paramsBytes, variantKey, type KernelDef, type ParamDecl, type ParamValues, type Variant } from './kernel.ts';
import { Tensor, bytesFor, type DType } from './tensor.ts';

export class DeviceLostError extends Error {
  constructor(readonly reason: string) {
    super(`the GPU device was lost (${reason}); the session can start a new one and reload from the last checkpoint`);
  }
}

export class GpuValidationError extends Error {}

const UNIFORM_SLOT = 256; // minUniformBufferOffsetAlignment on every adapter we know
const UNIFORM_SLOTS = 1024;

export interface RuntimeStats {
  dispatches: number;
  submits: number;
  pipelines: number;
  /** Time spent in createComputePipeline (ms): the software adapter compiles slowly. */
  compileMs: number;
}

/**
 * One GPU device and everything shared by kernels on it: the buffer pool, the pipeline cache, a
 * uniform arena and the command encoder that batches dispatches until `flush()` — one submission per
 * training step where possible.
 */
export class Runtime {
  readonly pool: BufferPool;
  readonly stats: RuntimeStats = { dispatches: 0, submits: 0, pipelines: 0, compileMs: 0 };
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private readonly uniformBuffer: GPUBuffer;
  private readonly uniformStaging = new ArrayBuffer(UNIFORM_SLOT * UNIFORM_SLOTS);
  private uniformSlots = 0;
  private readbacks: GPUBuffer[] = [];
  private lost: DeviceLostError | null = null;
  private validationError: string | null = null;
  private readonly lostListeners: ((e: DeviceLostError) => void)[] = [];

  private constructor(
    readonly device: GPUDevice,
    readonly env: GpuEnv,
    /** Held so the adapter (and, in Node, Dawn's instance) lives as long as the device. */
    private readonly owners: readonly unknown[],
  ) {
    this.pool = new BufferPool(device);
    this.uniformBuffer = device.createBuffer({
      size: this.uniformStaging.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: 'uniform arena',
    });
    device.lost.then((info) => {
      this.lost = new DeviceLostError(info.message || info.reason || 'unknown');
      for (const l of this.lostListeners) l(this.lost);
    });
    device.onuncapturederror = (ev) => {
      this.validationError ??= (ev as GPUUncapturedErrorEvent).error.message;
    };
  }

  /** Acquires an adapter and a device with the adapter's own limits. `gpu` is `navigator.gpu` or Dawn's. */
  static async create(gpu: GPU, opts: { powerPreference?: GPUPowerPreference } = {}): Promise<Runtime> {
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!adapter) throw new Error('WebGPU is available but no adapter was found (is the GPU blocklisted or disabled?)');
    const device = await adapter.requestDevice({
      requiredFeatures: wantedFeatures(adapter),
      requiredLimits: wantedLimits(adapter),
    });
    return new Runtime(device, describeEnv(adapter, device), [gpu, adapter]);
  }

  onLost(listener: (e: DeviceLostError) => void): void {
    this.lostListeners.push(listener);
  }

  private check(): void {
    if (this.lost) throw this.lost;
    if (this.validationError) {
      const msg = this.validationError;
      this.validationError = null;
      throw new GpuValidationError(`WebGPU validation error: ${msg}`);
    }
  }

  // ---- tensors -------------------------------------------------------------------------------

  empty(shape: readonly number[], dtype: DType = 'f32', name = ''): Tensor {
    let n = 1;
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new Error(`bad shape [${shape}] for ${name || 'tensor'}`);
      n *= d;
    }
    return new Tensor(this, this.pool.acquire(bytesFor(dtype, n), name), shape, dtype, name);
  }

  zeros(shape: readonly number[], dtype: DType = 'f32', name = ''): Tensor {
    const t = this.empty(shape, dtype, name);
    this.clear(t);
    return t;
  }

  clear(t: Tensor): void {
    this.endPass();
    this.enc().clearBuffer(t.buffer, 0, Math.ceil(t.bytes / 4) * 4);
  }

  upload(data: Float32Array | Int32Array | Uint32Array, shape: readonly number[], dtype?: DType, name = ''): Tensor {
    const dt: DType = dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32');
    const t = this.empty(shape, dt, name);
    this.write(t, data);
    return t;
  }

  /** Writes host data into a tensor. Flushes first: pending dispatches may still read the old contents. */
  write(t: Tensor, data: ArrayBufferView): void {
    if (data.byteLength !== t.bytes) throw new Error(`write ${t.describe()}: ${data.byteLength} bytes given, ${t.bytes} expected`);
    this.flush();
    this.device.queue.writeBuffer(t.buffer, 0, data.buffer, data.byteOffset, Math.ceil(data.byteLength / 4) * 4);
  }

  copy(src: Tensor, dst: Tensor, srcOffsetBytes = 0, dstOffsetBytes = 0, bytes = src.bytes): void {
    this.endPass();
    this.enc().copyBufferToBuffer(src.buffer, srcOffsetBytes, dst.buffer, dstOffsetBytes, bytes);
  }

  // ---- kernels -------------------------------------------------------------------------------

  private pipelineFor(def: KernelDef, variant: Variant) {
    const key = variantKey(def, variant);
    let entry = this.pipelines.get(key);
    if (entry) return entry;
    const t0 = performance.now();
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
      ...def.bindings.map((b, i): GPUBindGroupLayoutEntry => ({
        binding: i + 1,
        visibility: GPUShaderStage.COMPUTE,
        buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' },
      })),
    ];
    const layout = this.device.createBindGroupLayout({ entries, label: def.name });
    const module = this.device.createShaderModule({ code: buildShader(def, variant), label: key });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: def.entry ?? 'main' },
      label: key,
    });
    entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    this.stats.pipelines++;
    this.stats.compileMs += performance.now() - t0;
    return entry;
  }

  /**
   * Encodes one dispatch. `buffers` follow `def.bindings` order; `params` fill the uniform struct.
   * Nothing runs until `flush()` (or a read).
   */
  dispatch<P extends ParamDecl>(
    def: KernelDef<P>,
    variant: Variant,
    params: ParamValues<P>,
    buffers: readonly Tensor[],
    workgroups: readonly [number, number?, number?],
  ): void {
    if (this.lost) throw this.lost;
    if (buffers.length !== def.bindings.length) {
      throw new Error(`${def.name}: ${buffers.length} buffers given, ${def.bindings.length} bindings declared`);
    }
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) throw new Error(`${def.name}: dispatch [${x},${y},${z}] exceeds ${max} per dimension`);
    const { pipeline, layout } = this.pipelineFor(def, variant);
    if (this.uniformSlots === UNIFORM_SLOTS) this.flush();
    const slot = this.uniformSlots++;
    const view = new DataView(this.uniformStaging, slot * UNIFORM_SLOT, UNIFORM_SLOT);
    let off = 0;
    for (const [name, type] of Object.entries(def.params)) {
      const v = params[name];
      if (v === undefined || Number.isNaN(v)) throw new Error(`${def.name}: uniform ${name} is ${v}`);
      if (type === 'f32') view.setFloat32(off, v, true);
      else if (type === 'i32') view.setInt32(off, v, true);
      else view.setUint32(off, v, true);
      off += 4;
    }
    const bindGroup = this.device.createBindGroup({
      layout,
      entries: [
        { binding: 0, resource: { buffer: this.uniformBuffer, offset: slot * UNIFORM_SLOT, size: paramsBytes(def.params) } },
        ...buffers.map((t, i) => ({ binding: i + 1, resource: { buffer: t.buffer, offset: 0, size: Math.ceil(t.bytes / 4) * 4 || 4 } })),
      ],
    });
    const pass = this.beginPass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    this.stats.dispatches++;
  }

  private enc(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private beginPass(): GPUComputePassEncoder {
    return (this.pass ??= this.enc().beginComputePass());
  }

  private endPass(): void {
    this.pass?.end();
    this.pass = null;
  }

  /** Submits everything encoded so far (uniforms first). */
  flush(): void {
    this.check();
    if (!this.encoder) return;
    this.endPass();
    if (this.uniformSlots > 0) {
      this.device.queue.writeBuffer(this.uniformBuffer, 0, this.uniformStaging, 0, this.uniformSlots * UNIFORM_SLOT);
      this.uniformSlots = 0;
    }
    this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    this.stats.submits++;
  }

  /** Waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.check();
  }

  /** Reads a tensor (or a byte range of it) back to the host. */
  async read(t: Tensor, offsetBytes = 0, bytes = t.bytes - offsetBytes): Promise<Float32Array | Int32Array | Uint32Array> {
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.readbacks.find((b) => b.size >= size) ?? this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.readbacks = this.readbacks.filter((b) => b !== staging);
    this.endPass();
    this.enc().copyBufferToBuffer(t.buffer, offsetBytes, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ, 0, size);
    } catch (e) {
      this.check();
      throw e;
    }
    this.check();
    const copy = staging.getMappedRange(0, size).slice(0);
    staging.unmap();
    if (this.readbacks.length < 8) this.readbacks.push(staging);
    else staging.destroy();
    if (t.dtype === 'i32') return new Int32Array(copy);
    if (t.dtype === 'u32' || t.dtype === 'f16' || t.dtype === 'bf16') return new Uint32Array(copy);
    return new Float32Array(copy);
  }

  async readF32(t: Tensor): Promise<Float32Array> {
    if (t.dtype !== 'f32') throw new Error(`readF32: ${t.describe()} is not f32`);
    return (await this.read(t)) as Float32Array;
  }

  async readScalar(t: Tensor): Promise<number> {
    return (await this.read(t, 0, 4))[0];
  }

  destroy(): void {
    this.pool.trim();
    this.device.destroy();
  }
}
