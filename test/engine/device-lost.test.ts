import { describe, expect, it } from 'vitest';
import { nodeRuntime } from '../../src/cli/dawn.ts';
import { DeviceLostError } from '../../src/engine/runtime.ts';

describe('a lost GPU device', () => {
  it('is reported to listeners and every later call fails with a clear DeviceLostError', async () => {
    const rt = await nodeRuntime(); // its own device: this test destroys it
    const t = rt.upload(new Float32Array([1, 2, 3, 4]), [4]);
    let reported: DeviceLostError | null = null;
    rt.onLost((e) => (reported = e));
    rt.device.destroy();
    await rt.device.lost;
    await new Promise((r) => setTimeout(r, 0));
    expect(reported).toBeInstanceOf(DeviceLostError);
    expect(() => rt.empty([4])).not.toThrow(); // allocation is lazy; using it is what fails
    await expect(rt.read(t)).rejects.toThrow(/GPU device was lost .* reload from the last checkpoint/);
  });
});
