/**
 * GPU buffer pool. Sizes are rounded up to classes 2^k·(1 + j/8) so a freed buffer is reused by any
 * request of the same class (≤ 12.5% waste); after the first training step no new buffer is created.
 */
export const STORAGE_USAGE = GPUBufferUsageFlags();

function GPUBufferUsageFlags(): number {
  // GPUBufferUsage is a global in browsers and is installed by the Dawn bindings in Node.
  const u = (globalThis as unknown as { GPUBufferUsage?: Record<string, number> }).GPUBufferUsage;
  return u ? u.STORAGE | u.COPY_SRC | u.COPY_DST : 0x80 | 0x04 | 0x08;
}

export function sizeClass(bytes: number): number {
  const b = Math.max(16, Math.ceil(bytes / 16) * 16);
  if (b <= 256) return b;
  const k = Math.floor(Math.log2(b - 1));
  const step = 2 ** (k - 3);
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  /** Bytes in buffers this pool created (in use or free). */
  allocatedBytes = 0;
  inUseBytes = 0;
  peakInUseBytes = 0;
  created = 0;

  constructor(private readonly device: GPUDevice) {}

  acquire(bytes: number, label?: string): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: STORAGE_USAGE, label });
      this.allocatedBytes += size;
      this.created++;
    }
    this.inUseBytes += size;
    this.peakInUseBytes = Math.max(this.peakInUseBytes, this.inUseBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.inUseBytes -= size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buf);
  }

  resetPeak(): void {
    this.peakInUseBytes = this.inUseBytes;
  }

  /** Destroys the free buffers (e.g. after loading a bigger model). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) {
      this.allocatedBytes -= b.size;
      b.destroy();
    }
    this.free.clear();
  }
}
