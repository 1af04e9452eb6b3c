import type { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { ModelSpec } from '../../src/core/model-spec.ts';
import { TfjsDecoder } from '../model/tfjs-decoder.ts';
import { ADAM, LOSS, type Batch, type HostWeights } from '../model/student.ts';
import { tf } from '../peers/tfjs.ts';
import type { Timed } from '../timed.ts';

/**
 * One distillation step in tfjs, written as its users would: teacher forward as a constant, student
 * forward and the loss α·T²·KL(p_t^T ‖ p_s^T) + (1 − α)·CE under `tf.variableGrads`, global-norm
 * clipping as torch's clip_grad_norm_, `tf.train.adam` (AdamW without decay). The loss is read back
 * every step, as the engine's step reads its scalars.
 */
export function tfjsTrainStep(_backend: WebGPUBackend, spec: ModelSpec, student: HostWeights, teacher: HostWeights, batch: Batch): Timed {
  const s = new TfjsDecoder(spec, student, batch.T, true);
  const t = new TfjsDecoder(spec, teacher, batch.T, false);
  const ids = tf.tensor1d(batch.ids, 'int32');
  const mask = tf.tensor1d(Float32Array.from(batch.labels, (l) => (l >= 0 ? 1 : 0))); // [N]
  const onehot = tf.tidy(() => tf.oneHot(tf.tensor1d(Int32Array.from(batch.labels, (l) => Math.max(l, 0)), 'int32'), spec.vocabSize).toFloat()); // [N, V]
  const optimizer = tf.train.adam(ADAM.lr, ADAM.beta1, ADAM.beta2, ADAM.eps);
  const vars = s.variables;
  const { alpha, temperature: T } = LOSS;
  let firstLoss: number | null = null;

  function step(): tf.Scalar {
    return tf.tidy(() => {
      const teacherLogp = tf.logSoftmax(t.forward(ids, batch.B).div(T)); // [N, V], a constant
      const { value, grads } = tf.variableGrads(() => {
        const logits = s.forward(ids, batch.B); // [N, V]
        const kl = tf.exp(teacherLogp).mul(teacherLogp.sub(tf.logSoftmax(logits.div(T)))).sum(-1); // [N]
        const ce = onehot.mul(tf.logSoftmax(logits)).sum(-1).neg(); // [N]
        return kl.mul(alpha * T * T).add(ce.mul(1 - alpha)).mul(mask).sum().div(batch.count) as tf.Scalar;
      }, vars);
      // pairwise adds: tf.addN binds every input at once and exceeds the 8 storage buffers WebGPU allows
      const norm = tf.sqrt(Object.values(grads).map((g) => g.square().sum()).reduce((a, b) => a.add(b)));
      const scale = tf.minimum(tf.scalar(1), tf.scalar(ADAM.maxGradNorm).div(norm.add(1e-6)));
      optimizer.applyGradients(Object.entries(grads).map(([name, g]) => ({ name, tensor: g.mul(scale) })));
      return value;
    });
  }

  return {
    async run(iters) {
      for (let i = 0; i < iters; i++) {
        const loss = step();
        const v = (await loss.data())[0];
        loss.dispose();
        firstLoss ??= v;
      }
    },
    async read() {
      if (firstLoss === null) throw new Error('tfjs step: read before run');
      return Float32Array.of(firstLoss);
    },
    dispose() {
      optimizer.dispose();
      for (const x of [ids, mask, onehot]) x.dispose();
      s.dispose();
      t.dispose();
    },
  };
}
