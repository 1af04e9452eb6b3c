/**
 * The `retort` command. Each subcommand lives in its own module and is loaded on demand, so
 * `retort runner` never initialises WebGPU and `retort forward` never opens SQLite.
 */
type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  forward: { summary: 'next-token top-k (and optionally all logits) for a text or ids', load: async () => (await import('./forward.ts')).forwardCommand },
  generate: { summary: 'generate with the KV cache (temperature 0 = greedy)', load: async () => (await import('./generate.ts')).generateCommand },
  distill: { summary: 'run a distillation job (JSON config) on the engine', load: async () => (await import('./distill.ts')).distillCommand },
  runner: { summary: 'start the companion runner (HTTP API + PyTorch worker)', load: async () => (await import('./runner.ts')).runnerCommand },
  'demo-data': { summary: 'regenerate the demo dataset (public/data/arith)', load: async () => (await import('./demo.ts')).demoDataCommand },
  'demo-models': { summary: 'rebuild the demo teacher and student (public/models)', load: async () => (await import('./demo.ts')).demoModelsCommand },
  export: { summary: 'export a checkpoint to ONNX for transformers.js (fp32, fp16, q8, q4)', load: async () => (await import('./export.ts')).exportCommand },
  'quant-compare': { summary: 'full checkpoint (engine) vs its ONNX export: KL, exact match, perplexity, bytes, tokens/s', load: async () => (await import('./quant-compare.ts')).quantCompareCommand },
  'demo-kd-vs-sft': { summary: 'measure the demo student after KD vs plain SFT (3 seeds, torch worker)', load: async () => (await import('./demo-kd-vs-sft.ts')).demoKdVsSftCommand },
  eval: { summary: 'answer accuracy of a model on a JSONL set, generated on the engine', load: async () => (await import('./eval.ts')).evalCommand },
  'demo-augment': { summary: 'demo data recipes: paraphrases, number substitution, wrong-answer traces', load: async () => (await import('./demo-augment.ts')).demoAugmentCommand },
};

function usage(): string {
  const rows = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `usage: retort <command> [options]\n\ncommands:\n${rows.join('\n')}\n\n'retort <command> --help' shows a command's options.`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 2;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    console.error(`retort: unknown command "${name}"\n\n${usage()}`);
    return 2;
  }
  try {
    return await (await cmd.load())(rest);
  } catch (e) {
    const err = e as Error;
    console.error(`retort ${name}: ${err.message}`);
    if (process.env.RETORT_DEBUG) console.error(err.stack);
    return 1;
  }
}
