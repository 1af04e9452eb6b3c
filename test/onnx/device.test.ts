/** Which execution provider the ONNX worker picks, and that a fallback always says why. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { chooseDevice } from '../../src/onnx/transformers-lm.ts';

describe('ONNX execution provider choice', () => {
  afterEach(() => vi.unstubAllGlobals());

  it('WebGPU when an adapter comes back', async () => {
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => ({}) } });
    expect(await chooseDevice()).toEqual({ device: 'webgpu', fallback: null });
  });

  it('wasm, with the reason, when the browser has no WebGPU or no adapter', async () => {
    vi.stubGlobal('navigator', {});
    expect(await chooseDevice()).toEqual({ device: 'wasm', fallback: expect.stringContaining('no WebGPU (navigator.gpu is missing)') });
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    expect(await chooseDevice()).toEqual({ device: 'wasm', fallback: expect.stringContaining('WebGPU found no adapter') });
    vi.stubGlobal('navigator', { gpu: { requestAdapter: () => Promise.reject(new Error('blocked')) } });
    expect((await chooseDevice()).device).toBe('wasm');
  });

  it('an explicit device is taken as asked', async () => {
    expect(await chooseDevice('cpu')).toEqual({ device: 'cpu', fallback: null });
  });
});
