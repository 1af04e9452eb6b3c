import type { ModelSpec } from '../../core/model-spec.ts';
import type { Runtime } from '../runtime.ts';
import type { Tensor } from '../tensor.ts';
import { rng } from '../../core/random.ts';
import type { FileSource } from '../../core/files.ts';
import { joinPath, readJson } from '../../core/files.ts';
import { SafetensorsFile } from '../../core/safetensors.ts';
import { FormatError, MissingTensorError } from '../../core/errors.ts';

export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  /** Module names as PEFT writes them: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj. */
  targetModules: string[];
}

/** One adapted Linear: y = x Wᵀ + b + (alpha / rank) · (x Aᵀ) Bᵀ, A [r, in], B [out, r]. */
export interface LoraPair {
  A: Tensor;
  B: Tensor;
  scale: number;
}

const MODULE_DIMS: Record<string, (s: ModelSpec) => [number, number]> = {
  q_proj: (s) => [s.heads * s.headDim, s.hidden],
  k_proj: (s) => [s.kvHeads * s.headDim, s.hidden],
  v_proj: (s) => [s.kvHeads * s.headDim, s.hidden],
  o_proj: (s) => [s.hidden, s.heads * s.headDim],
  gate_proj: (s) => [s.intermediate, s.hidden],
  up_proj: (s) => [s.intermediate, s.hidden],
  down_proj: (s) => [s.hidden, s.intermediate],
};

const PARENT: Record<string, string> = {
  q_proj: 'self_attn', k_proj: 'self_attn', v_proj: 'self_attn', o_proj: 'self_attn',
  gate_proj: 'mlp', up_proj: 'mlp', down_proj: 'mlp',
};

/** PEFT's tensor name for a module path like `model.layers.3.self_attn.q_proj`. */
export function peftName(modulePath: string, which: 'A' | 'B'): string {
  return `base_model.model.${modulePath}.lora_${which}.weight`;
}

/**
 * LoRA adapters keyed by module path. A starts as PEFT does (Kaiming-uniform: U(±1/√in)), B at zero,
 * so an untrained adapter leaves the model unchanged.
 */
export class LoraAdapters {
  readonly pairs = new Map<string, LoraPair>();

  constructor(readonly config: LoraConfig) {}

  static create(rt: Runtime, spec: ModelSpec, config: LoraConfig, seed: number): LoraAdapters {
    const lora = new LoraAdapters(config);
    const rand = rng(seed);
    for (const mod of config.targetModules) {
      const dims = MODULE_DIMS[mod];
      if (!dims) throw new Error(`lora.targetModules: unknown module "${mod}" (known: ${Object.keys(MODULE_DIMS).join(', ')})`);
      const [out, inp] = dims(spec);
      for (let l = 0; l < spec.layers; l++) {
        const bound = 1 / Math.sqrt(inp);
        const a = Float32Array.from({ length: config.rank * inp }, () => (rand() * 2 - 1) * bound);
        const path = `model.layers.${l}.${PARENT[mod]}.${mod}`;
        lora.pairs.set(path, {
          A: rt.upload(a, [config.rank, inp], 'f32', peftName(path, 'A')),
          B: rt.zeros([out, config.rank], 'f32', peftName(path, 'B')),
          scale: config.alpha / config.rank,
        });
      }
    }
    for (const p of lora.pairs.values()) p.A.requiresGrad = p.B.requiresGrad = true;
    return lora;
  }

  /**
   * Reads a PEFT adapter folder (adapter_config.json + adapter_model.safetensors) for `spec`; every
   * tensor's presence and shape is checked and errors name the file and tensor.
   */
  static async load(rt: Runtime, spec: ModelSpec, files: FileSource, dir: string): Promise<LoraAdapters> {
    const cfgPath = joinPath(dir, 'adapter_config.json');
    const cfg = (await readJson(files, cfgPath)) as Record<string, unknown>;
    if (cfg.peft_type !== 'LORA') throw new FormatError({ file: cfgPath, field: 'peft_type' }, `expected "LORA", got ${JSON.stringify(cfg.peft_type)}`);
    const rank = Number(cfg.r);
    const alpha = Number(cfg.lora_alpha ?? rank);
    const targets = cfg.target_modules;
    if (!Number.isInteger(rank) || rank < 1) throw new FormatError({ file: cfgPath, field: 'r' }, `rank must be a positive integer, got ${JSON.stringify(cfg.r)}`);
    if (!Array.isArray(targets) || targets.some((t) => typeof t !== 'string' || !MODULE_DIMS[t])) {
      throw new FormatError({ file: cfgPath, field: 'target_modules' }, `expected a list of ${Object.keys(MODULE_DIMS).join(', ')}`);
    }
    const config: LoraConfig = { rank, alpha, dropout: Number(cfg.lora_dropout ?? 0), targetModules: targets as string[] };
    const weightsPath = joinPath(dir, 'adapter_model.safetensors');
    const st = await SafetensorsFile.open(files, weightsPath);
    const lora = new LoraAdapters(config);
    for (const mod of config.targetModules) {
      const [out, inp] = MODULE_DIMS[mod](spec);
      for (let l = 0; l < spec.layers; l++) {
        const path = `model.layers.${l}.${PARENT[mod]}.${mod}`;
        const read = async (which: 'A' | 'B', shape: [number, number]) => {
          const name = peftName(path, which);
          if (!st.has(name)) throw new MissingTensorError(weightsPath, name);
          const e = st.entry(name);
          if (e.shape.join() !== shape.join()) throw new FormatError({ file: weightsPath, tensor: name }, `shape [${e.shape}] ≠ [${shape}] for rank ${rank}`);
          return rt.upload(await st.float32(name), shape, 'f32', name);
        };
        lora.pairs.set(path, { A: await read('A', [rank, inp]), B: await read('B', [out, rank]), scale: alpha / rank });
      }
    }
    return lora;
  }

  get(modulePath: string): LoraPair | undefined {
    return this.pairs.get(modulePath);
  }

  parameters(): Tensor[] {
    return [...this.pairs.values()].flatMap((p) => [p.A, p.B]);
  }

  /** PEFT's adapter_config.json. */
  adapterConfig(baseModel: string): Record<string, unknown> {
    return {
      peft_type: 'LORA',
      task_type: 'CAUSAL_LM',
      base_model_name_or_path: baseModel,
      r: this.config.rank,
      lora_alpha: this.config.alpha,
      lora_dropout: this.config.dropout,
      target_modules: this.config.targetModules,
      bias: 'none',
      fan_in_fan_out: false,
      inference_mode: true,
    };
  }

  dispose(): void {
    for (const p of this.pairs.values()) {
      p.A.dispose();
      p.B.dispose();
    }
    this.pairs.clear();
  }
}
