/**
 * bench.html: the engine and its peers on one adapter in one page. The Node driver (bench/run.ts)
 * calls `window.bench.run(config)`; by hand, the buttons run the same suite and print the table.
 */
import { Runtime } from '../src/engine/runtime.ts';
import { runCases, type Peers } from './suite.ts';
import { markdownReport } from './report.ts';
import { ORT_VERSION, ortAdapter } from './peers/ort.ts';
import { TFJS_VERSION, tfjsBackend } from './peers/tfjs.ts';
import type { BenchPageApi, PageEnv, ShapeSet, SuiteConfig, SuiteResult } from './protocol.ts';
import './onnx-page.ts'; // window.onnx: the ONNX worker, for the quantized-decode bench and e2e tests

const out = document.getElementById('out')!;

function log(msg: string): void {
  console.log(msg);
  out.textContent += msg + '\n';
}

function describeAdapter(info: GPUAdapterInfo | undefined): string {
  if (!info) return 'unknown adapter';
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter';
}

let peers: Promise<Peers> | null = null;

async function startPeers(): Promise<Peers> {
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (navigator.gpu is missing)');
  const rt = await Runtime.create(navigator.gpu);
  try {
    return { rt, tfjs: await tfjsBackend() };
  } catch (e) {
    return { rt, tfjs: null, tfjsError: (e as Error).message };
  }
}

async function run(config: SuiteConfig): Promise<SuiteResult> {
  const t0 = performance.now();
  const p = await (peers ??= startPeers());
  const env: PageEnv = {
    userAgent: navigator.userAgent,
    adapters: { engine: p.rt.env.adapter, ...(p.tfjs ? { tfjs: describeAdapter(p.tfjs.device.adapterInfo) } : {}) },
    versions: { 'onnxruntime-web': ORT_VERSION, 'tfjs-core': TFJS_VERSION },
    isSoftware: p.rt.env.isSoftware,
    notes: [
      'jax-js: not installed in this workspace (no offline copy), so it is not measured.',
      'matmul: C = A·Wᵀ with W [N, K] as the engine stores a Linear (transB); "engine [K,N]" is the engine on a pre-transposed weight, the peers\' layout. ORT: one MatMul node, W an initializer, A a GPU buffer, output left on the GPU. tfjs: tf.matMul(A, B) with B [K, N].',
      'candidate / candidate tiled: proposed replacements for the engine\'s matmul (bench/matmul/candidate*.wgsl) run through the engine\'s runtime — barrier-free for software adapters, vec4-along-K tiled for GPUs.',
      'forward: logits for every token. ORT runs the student as a standard-op ONNX graph (opset 17, no contrib ops such as GroupQueryAttention that an optimum export would carry); tfjs runs a hand-written decoder.',
      'training step: student + teacher forward, α·T²·KL + (1 − α)·CE, backward, clipping, Adam; each step reads its loss back (engine: DistillStep; tfjs: tf.variableGrads + tf.train.adam).',
      'Timing: N iterations, then a wait for the device queue (engine rt.sync, tfjs submit + onSubmittedWorkDone, ORT onSubmittedWorkDone on its device); the first run (compilation) is not timed.',
    ],
  };
  log(`adapter: ${env.adapters.engine}${env.isSoftware ? ' (software)' : ''}; shapes ${config.shapes}`);
  const cases = await runCases(p, config, log);
  const ortOn = await ortAdapter();
  if (ortOn) env.adapters.ort = ortOn;
  const result: SuiteResult = { env, config, cases, wallMs: performance.now() - t0 };
  // The table goes on the page only: the driver prints its own from the result.
  out.textContent += '\n' + markdownReport(result) + '\n';
  return result;
}

const api: BenchPageApi = { run };
(window as unknown as { bench: BenchPageApi }).bench = api;

for (const set of ['ci', 'real'] as ShapeSet[]) {
  document.getElementById(`run-${set}`)?.addEventListener('click', () => {
    out.textContent = '';
    run({ shapes: set, reps: 5, targetMs: 300 }).catch((e: Error) => log(`failed: ${e.message}`));
  });
}
out.textContent = 'ready\n';
