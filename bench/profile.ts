/**
 * Where the engine's time goes on this adapter: records the dispatches of one student forward (or one
 * training step), replays each alone `--reps` times with a sync around it, and prints the time per
 * kernel variant. Runs in Node on Dawn — the same SwiftShader as Chromium without a GPU, the GPU
 * with one. Replaying reuses the recorded (pooled) buffers: timings are right, values are not.
 *
 *   node bin/run-ts.mjs bench/profile.ts [--shapes ci|real] [--case forward|train] [--reps N]
 */
import { nodeRuntime } from '../src/cli/dawn.ts';
import { Decoder } from '../src/engine/model/decoder.ts';
import type { Runtime } from '../src/engine/runtime.ts';
import { engineWeights } from './model/engine-weights.ts';
import { ADAM, LOSS, hostWeights, makeBatch, studentSpec } from './model/student.ts';
import { STUDENT_SHAPES, type ShapeSet } from './protocol.ts';
import { median } from './timed.ts';

type DispatchArgs = Parameters<Runtime['dispatch']>;

function parseArgs(argv: string[]): { shapes: ShapeSet; kase: 'forward' | 'train'; reps: number } {
  const out = { shapes: 'ci' as ShapeSet, kase: 'forward' as 'forward' | 'train', reps: 3 };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, v] = [argv[i], argv[i + 1]];
    if (flag === '--shapes' && (v === 'ci' || v === 'real')) out.shapes = v;
    else if (flag === '--case' && (v === 'forward' || v === 'train')) out.kase = v;
    else if (flag === '--reps' && Number(v) > 0) out.reps = Number(v);
    else throw new Error(`profile: bad argument ${flag} ${v ?? ''} (see the header of bench/profile.ts)`);
  }
  return out;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const rt = await nodeRuntime();
  const shape = STUDENT_SHAPES[args.shapes];
  const spec = studentSpec(shape);
  const batch = makeBatch(shape);
  const student = new Decoder(rt, engineWeights(rt, spec, hostWeights(spec, 11)));
  let once: () => Promise<void>;
  if (args.kase === 'forward') {
    once = async () => {
      const { hidden } = student.forward(batch.ids, batch.B, batch.T);
      student.logits(hidden).dispose();
      hidden.dispose();
      await rt.sync();
    };
  } else {
    // imported here so that the forward profile runs while the training step is still being written
    const { DistillStep } = await import('../src/engine/train/distill-step.ts');
    const teacher = new Decoder(rt, engineWeights(rt, spec, hostWeights(spec, 12, 0.05)));
    const step = new DistillStep(rt, student, teacher, [...student.weights.values()], spec.vocabSize, {
      beta1: ADAM.beta1, beta2: ADAM.beta2, eps: ADAM.eps, weightDecay: 0, maxGradNorm: ADAM.maxGradNorm,
    });
    const loss = { divergence: 'forward-kl', alpha: LOSS.alpha, temperature: LOSS.temperature, beta: 0.5, lambda: 0.1 } as const;
    once = async () => {
      step.micro({ ids: batch.ids, labels: batch.labels, B: batch.B, T: batch.T }, loss, batch.count);
      await step.apply(ADAM.lr);
    };
  }

  console.log(`adapter: ${rt.env.adapter}; ${args.kase}, shapes ${args.shapes}: L${spec.layers} C${spec.hidden} I${spec.intermediate} V${spec.vocabSize}, ${batch.B}×${batch.T} tokens`);
  await once(); // compile everything first
  const dispatch = rt.dispatch.bind(rt);
  const recorded: DispatchArgs[] = [];
  (rt as { dispatch: (...a: DispatchArgs) => void }).dispatch = (...a: DispatchArgs) => {
    recorded.push(a);
    dispatch(...a);
  };
  const t0 = performance.now();
  await once();
  const wholeMs = performance.now() - t0;
  (rt as { dispatch: (...a: DispatchArgs) => void }).dispatch = dispatch;

  const rows = new Map<string, { calls: number; ms: number; example: string }>();
  let sum = 0;
  for (const a of recorded) {
    const times: number[] = [];
    for (let r = 0; r < args.reps; r++) {
      const t = performance.now();
      dispatch(...a);
      await rt.sync();
      times.push(performance.now() - t);
    }
    const ms = median(times);
    sum += ms;
    const key = `${a[0].name} ${JSON.stringify(a[1])}`;
    const row = rows.get(key) ?? { calls: 0, ms: 0, example: `grid ${JSON.stringify(a[4])} ${JSON.stringify(a[2])}` };
    row.calls++;
    row.ms += ms;
    rows.set(key, row);
  }
  console.log(`one ${args.kase}: ${wholeMs.toFixed(0)} ms for ${recorded.length} dispatches; replayed alone they sum to ${sum.toFixed(0)} ms\n`);
  console.log('| kernel variant | calls | ms | share | a call |');
  console.log('|---|---|---|---|---|');
  for (const [k, r] of [...rows].sort((x, y) => y[1].ms - x[1].ms)) {
    console.log(`| ${k} | ${r.calls} | ${r.ms.toFixed(1)} | ${((100 * r.ms) / sum).toFixed(1)}% | ${r.example.slice(0, 140)} |`);
  }
  rt.destroy();
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
