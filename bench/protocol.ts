/**
 * What the bench page and its Node driver exchange: the suite's configuration, the shapes, and the
 * results. The page runs the whole suite (so bench.html also works by hand on a real GPU); the driver
 * only starts it, relays progress and writes the table.
 */

export type ShapeSet = 'ci' | 'real';

/** C[M, N] = A[M, K] · W[N, K]ᵀ — a Linear layer: M tokens, K in-features, N out-features. */
export interface MatmulShape {
  M: number;
  K: number;
  N: number;
  note?: string;
}

export const MATMUL_SHAPES: Record<ShapeSet, readonly MatmulShape[]> = {
  // The software adapter runs well under 1 GFLOPS: these keep the whole run within a few minutes.
  ci: [
    { M: 128, K: 256, N: 256 },
    { M: 256, K: 512, N: 512 },
    { M: 256, K: 512, N: 2048 },
  ],
  // Qwen2.5-0.5B / 1.5B MLP up-projections at 512 tokens.
  real: [
    { M: 512, K: 896, N: 4864, note: 'Qwen2.5-0.5B mlp.up' },
    { M: 512, K: 1536, N: 8960, note: 'Qwen2.5-1.5B mlp.up' },
  ],
};

/** A decoder-only student for the forward and training-step cases (Qwen2 layout, tied embeddings). */
export interface StudentShape {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  B: number;
  T: number;
  note?: string;
}

export const STUDENT_SHAPES: Record<ShapeSet, StudentShape> = {
  ci: { vocab: 512, hidden: 128, intermediate: 256, layers: 2, heads: 4, kvHeads: 2, headDim: 32, B: 2, T: 64, note: 'tiny Qwen2-shaped student' },
  // Qwen2.5-0.5B's layer at 512 tokens, 2 layers and a 32k vocabulary so that the tfjs peer (which
  // materialises [tokens × vocab] logits) fits in memory.
  real: { vocab: 32768, hidden: 896, intermediate: 4864, layers: 2, heads: 14, kvHeads: 2, headDim: 64, B: 1, T: 512, note: 'Qwen2.5-0.5B layers ×2, 32k vocab' },
};

export interface SuiteConfig {
  shapes: ShapeSet;
  /** Timed repetitions per implementation; implementations are interleaved within each repetition. */
  reps: number;
  /** Each repetition runs enough iterations to last about this long (ms). */
  targetMs: number;
  /** Case kinds to run (default all). */
  cases?: readonly CaseKind[];
  /** Implementations to run (default all), e.g. to look at one peer alone. */
  impls?: readonly string[];
}

export type CaseKind = 'matmul' | 'forward' | 'train';

export interface Measurement {
  impl: string;
  /** False when this implementation could not run the case here; `reason` says why. */
  ran: boolean;
  reason?: string;
  /** Correctness against a float64 reference on sampled entries: max|got − ref| / max|ref|. */
  relErr?: number;
  iters?: number;
  /** Milliseconds per iteration, one value per repetition. */
  msPerIter?: number[];
  medianMs?: number;
  /** 2·M·N·K (or the step's matmul FLOPs) per median iteration, in GFLOPS. */
  gflops?: number;
}

export interface CaseResult {
  kind: CaseKind;
  label: string;
  /** FLOPs of one iteration (matmul: 2·M·N·K; forward/train: the matmuls of the model). */
  flops: number;
  results: Measurement[];
}

export interface PageEnv {
  userAgent: string;
  /** Adapter description per implementation, as each library's own device reports it. */
  adapters: Record<string, string>;
  versions: Record<string, string>;
  isSoftware: boolean;
  notes: string[];
}

export interface SuiteResult {
  env: PageEnv;
  config: SuiteConfig;
  cases: CaseResult[];
  wallMs: number;
}

/** What bench.html puts on `window.bench`. */
export interface BenchPageApi {
  run(config: SuiteConfig): Promise<SuiteResult>;
}
