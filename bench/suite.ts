import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { Runtime } from '../src/engine/runtime.ts';
import { measureCase, type CaseSpec, type Contender } from './measure.ts';
import { MATMUL_SHAPES, STUDENT_SHAPES, type CaseResult, type MatmulShape, type StudentShape, type SuiteConfig } from './protocol.ts';
import { sampledMatmulError, uniform } from './timed.ts';
import { engineMatmul } from './matmul/engine.ts';
import { ortMatmul } from './matmul/ort.ts';
import { tfjsMatmul } from './matmul/tfjs.ts';
import { candidateMatmul } from './matmul/candidate.ts';
import { forwardFlops, hostWeights, LOSS, makeBatch, studentSpec } from './model/student.ts';
import { referenceDistillLoss, referenceLogits } from './model/reference.ts';
import { engineForward } from './forward/engine.ts';
import { ortForward } from './forward/ort.ts';
import { tfjsForward } from './forward/tfjs.ts';
import { engineTrainStep } from './train/engine.ts';
import { tfjsTrainStep } from './train/tfjs.ts';

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
      // proposals for src/engine/kernels/matmul (bench/matmul/candidate*.wgsl): barrier-free for software adapters, tiled with vec4 K-loads for GPUs
      { impl: 'candidate', make: async () => candidateMatmul(p.rt, s, a, w, 'direct') },
      { impl: 'candidate tiled', make: async () => candidateMatmul(p.rt, s, a, w, 'tiled') },
      { impl: 'ort', make: () => ortMatmul(s, a, w) },
      p.tfjs ? { impl: 'tfjs', make: async () => tfjsMatmul(p.tfjs!, s, a, w) } : unavailable('tfjs', p.tfjsError ?? 'tfjs did not start'),
    ],
  };
}

function label(s: StudentShape): string {
  return `L${s.layers} C${s.hidden} I${s.intermediate} H${s.heads}/${s.kvHeads} V${s.vocab}, ${s.B}×${s.T} tokens`;
}

/** Rows of the causal prefix the forward check compares (outputs at t depend only on tokens ≤ t). */
const PREFIX = 16;

function forwardCase(p: Peers, shape: StudentShape): CaseSpec {
  const spec = studentSpec(shape);
  const w = hostWeights(spec, 11);
  const batch = makeBatch(shape);
  const P = Math.min(PREFIX, shape.T), V = spec.vocabSize;
  let ref: Float64Array | null = null;
  return {
    kind: 'forward',
    label: label(shape),
    flops: forwardFlops(spec, shape.B, shape.T),
    check(logits) {
      ref ??= referenceLogits(spec, w, batch.ids, shape.B, shape.T, P); // [B·P, V]
      let num = 0, den = 0;
      for (let b = 0; b < shape.B; b++) for (let t = 0; t < P; t++) for (let j = 0; j < V; j++) {
        const r = ref[(b * P + t) * V + j];
        num = Math.max(num, Math.abs(logits[(b * shape.T + t) * V + j] - r));
        den = Math.max(den, Math.abs(r));
      }
      return num / den;
    },
    contenders: [
      { impl: 'engine', make: async () => engineForward(p.rt, spec, w, batch) },
      { impl: 'ort', make: () => ortForward(spec, w, batch) },
      p.tfjs ? { impl: 'tfjs', make: async () => tfjsForward(p.tfjs!, spec, w, batch) } : unavailable('tfjs', p.tfjsError ?? 'tfjs did not start'),
    ],
  };
}

/** Above this many reference FLOPs the float64 loop is too slow: losses are cross-checked against the first contender's instead. */
const REFERENCE_LIMIT = 3e9;

function trainCase(p: Peers, shape: StudentShape, log: (msg: string) => void): CaseSpec {
  const spec = studentSpec(shape);
  const student = hostWeights(spec, 11), teacher = hostWeights(spec, 12, 0.05);
  const batch = makeBatch(shape);
  const fwd = forwardFlops(spec, shape.B, shape.T);
  let ref: number | null = null;
  return {
    kind: 'train',
    label: label(shape),
    flops: 4 * fwd, // student forward + its backward (≈ 2×) + teacher forward
    check(loss, impl) {
      if (ref === null) {
        if (2 * fwd <= REFERENCE_LIMIT) {
          const ls = referenceLogits(spec, student, batch.ids, shape.B, shape.T);
          const lt = referenceLogits(spec, teacher, batch.ids, shape.B, shape.T);
          ref = referenceDistillLoss(ls, lt, batch.labels, spec.vocabSize, LOSS.alpha, LOSS.temperature);
        } else {
          ref = loss[0];
          log(`  train: too large for the float64 reference; losses are checked against ${impl}'s (${ref})`);
        }
      }
      return Math.abs(loss[0] - ref) / Math.abs(ref);
    },
    contenders: [
      { impl: 'engine', make: async () => engineTrainStep(p.rt, spec, student, teacher, batch) },
      p.tfjs ? { impl: 'tfjs', make: async () => tfjsTrainStep(p.tfjs!, spec, student, teacher, batch) } : unavailable('tfjs', p.tfjsError ?? 'tfjs did not start'),
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
  const student = STUDENT_SHAPES[cfg.shapes];
  if (kinds.has('forward')) {
    log(`forward ${label(student)}`);
    out.push(await measureCase(forwardCase(p, student), cfg, log));
  }
  if (kinds.has('train')) {
    log(`training step ${label(student)}`);
    out.push(await measureCase(trainCase(p, student, log), cfg, log));
  }
  return out;
}
