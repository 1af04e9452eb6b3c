import { describe, expect, it } from 'vitest';
import { Fnv1a64, fnv1a64 } from '../../src/core/hash.ts';

describe('FNV-1a 64', () => {
  it('matches the published test vectors', () => {
    // From the FNV reference (isthe.com/chongo/tech/comp/fnv) test suite.
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('matches a BigInt reference on random bytes, incrementally', () => {
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 0xff);
    let h = 0xcbf29ce484222325n;
    for (const b of bytes) h = ((h ^ BigInt(b)) * 0x100000001b3n) & 0xffffffffffffffffn;
    const inc = new Fnv1a64().update(bytes.subarray(0, 333)).update(bytes.subarray(333)).hex();
    expect(inc).toBe(h.toString(16).padStart(16, '0'));
  });
});
