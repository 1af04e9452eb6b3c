import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Runtime } from '../src/engine/runtime.ts';
import { measureCase, type CaseSpec, type Contender } from './measure.ts';
import { MATMUL_SHAPES, type CaseResult, type MatmulShape, type SuiteConfig } from './protocol.ts';
import { sampledMatmulError, uniform } from './timed.ts';
import { engineMatmul } from './matmul/engine.ts';
import { ortMatmul } from './matmul/ort.ts';
import { tfjsMatmul } from './matmul/tfjs.ts';

/** The devices the suite measures on: the engine's runtime and the tfjs backend (ORT opens its own). */
export interface Peers {
  rt: Runtime;
  /** Null when tfjs could not start here; its cases then report `tfjsError`. */
  tfjs: WebGPUBackend | null;
  tfjsError?: string;
}

function unavailable(impl: string, why: string): Contender {
  return { impl, make: () => Promise.reject(new Error(why)) };
}

function matmulCase(p: Peers, s: MatmulShape): CaseSpec {
  const a = uniform(s.M * s.K, 1); // [M, K]
  const w = uniform(s.N * s.K, 2, 1 / Math.sqrt(s.K)); // [N, K], Linear-scaled
  return {
    kind: 'matmul',
    label: `${s.M}×${s.K}×${s.N}`,
    flops: 2 * s.M * s.N * s.K,
    check: (c) => sampledMatmulError(c, a, w, s.M, s.K, s.N),
    contenders: [
      { impl: 'engine', make: async () => engineMatmul(p.rt, s, a, w, 'nk') },
      { impl: 'engine [K,N]', make: async () => engineMatmul(p.rt, s, a, w, 'kn') },
      { impl: 'ort', make: () => ortMatmul(s, a, w) },
      p.tfjs ? { impl: 'tfjs', make: async () => tfjsMatmul(p.tfjs!, s, a, w) } : unavailable('tfjs', p.tfjsError ?? 'tfjs did not start'),
    ],
  };
}

/** Runs every case of the configuration in order; `log` receives progress lines. */
export async function runCases(p: Peers, cfg: SuiteConfig, log: (msg: string) => void): Promise<CaseResult[]> {
  const kinds = new Set(cfg.cases ?? ['matmul', 'forward', 'train']);
  const out: CaseResult[] = [];
  if (kinds.has('matmul')) {
    for (const s of MATMUL_SHAPES[cfg.shapes]) {
      log(`matmul ${s.M}×${s.K}×${s.N}${s.note ? ` (${s.note})` : ''}`);
      out.push(await measureCase(matmulCase(p, s), cfg, log));
    }
  }
  return out;
}
