/**
 * CPU reference of fake_quant.wgsl: the grid's one TypeScript definition, which post-training rounding
 * and the ONNX export use too, lives in src/core/quant.ts (float32 arithmetic, round half to even).
 */
export { fakeQuantize as fakeQuantForwardRef, quantize, type QuantGrid } from '../../core/quant.ts';
