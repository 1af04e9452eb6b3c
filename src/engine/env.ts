/**
 * WebGPU capabilities, detected once per device and frozen (as transformers.js's `apis`).
 * The engine never asks the adapter again; kernels pick variants from these flags.
 */
export interface GpuFeatures {
  readonly subgroups: boolean;
  readonly timestampQuery: boolean;
  /** `shader-f16`: native f16 arithmetic. Absent on SwiftShader; packed f16/bf16 weights work without it. */
  readonly shaderF16: boolean;
}

export interface GpuEnv {
  readonly adapter: string;
  readonly isSoftware: boolean;
  readonly features: GpuFeatures;
  readonly limits: Readonly<Record<string, number>>;
}

const WANTED_FEATURES = ['subgroups', 'timestamp-query', 'shader-f16'] as const;

export function wantedFeatures(adapter: GPUAdapter): GPUFeatureName[] {
  return WANTED_FEATURES.filter((f) => adapter.features.has(f)) as GPUFeatureName[];
}

/** Ask for the adapter's own maxima: the defaults (128 MiB bindings) are too small for a 0.5B model. */
export function wantedLimits(adapter: GPUAdapter): Record<string, number> {
  const l = adapter.limits;
  return {
    maxBufferSize: l.maxBufferSize,
    maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
    maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: l.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
  };
}

export function describeEnv(adapter: GPUAdapter, device: GPUDevice): GpuEnv {
  const info = adapter.info;
  const name = [info?.vendor, info?.architecture, info?.device, info?.description].filter(Boolean).join(' ') || 'unknown adapter';
  const limits: Record<string, number> = {};
  for (const key of Object.keys(wantedLimits(adapter))) limits[key] = (device.limits as unknown as Record<string, number>)[key];
  return Object.freeze({
    adapter: name,
    isSoftware: /swiftshader|llvmpipe|software|cpu/i.test(name) || (info as { isFallbackAdapter?: boolean })?.isFallbackAdapter === true,
    features: Object.freeze({
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
      shaderF16: device.features.has('shader-f16'),
    }),
    limits: Object.freeze(limits),
  });
}
