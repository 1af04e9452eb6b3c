/**
 * FNV-1a 64-bit: a tiny, pure, incremental hash for fingerprints (tokenizers, datasets). Not
 * cryptographic; it only has to tell different inputs apart and be the same in every runtime.
 */
const PRIME_LOW = 0x1b3; // 64-bit prime = 2^40 + 0x1b3

export class Fnv1a64 {
  // The state as four 16-bit limbs so every product stays exact in a double.
  private h0 = 0x2325;
  private h1 = 0x8422;
  private h2 = 0x9ce4;
  private h3 = 0xcbf2;

  update(bytes: Uint8Array): this {
    let { h0, h1, h2, h3 } = this;
    for (let i = 0; i < bytes.length; i++) {
      h0 ^= bytes[i];
      // h · (2^40 + 0x1b3) mod 2^64: the 2^40 part shifts limbs 0,1 by 8 bits into limbs 2,3.
      const t0 = h0 * PRIME_LOW;
      let t1 = h1 * PRIME_LOW;
      let t2 = h2 * PRIME_LOW + (h0 << 8);
      const t3 = h3 * PRIME_LOW + (h1 << 8);
      t1 += t0 >>> 16;
      h0 = t0 & 0xffff;
      t2 += t1 >>> 16;
      h1 = t1 & 0xffff;
      h3 = (t3 + (t2 >>> 16)) & 0xffff;
      h2 = t2 & 0xffff;
    }
    Object.assign(this, { h0, h1, h2, h3 });
    return this;
  }

  updateString(text: string): this {
    return this.update(utf8.encode(text));
  }

  /** 16 lowercase hex digits. */
  hex(): string {
    return [this.h3, this.h2, this.h1, this.h0].map((x) => x.toString(16).padStart(4, '0')).join('');
  }
}

const utf8 = new TextEncoder();

export function fnv1a64(data: Uint8Array | string): string {
  const h = new Fnv1a64();
  return (typeof data === 'string' ? h.updateString(data) : h.update(data)).hex();
}
