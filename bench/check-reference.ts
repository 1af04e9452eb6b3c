/**
 * Checks bench/model/reference.ts (the float64 loop forward and loss the suite trusts) against the
 * torch worker's model, the project's one PyTorch reference (float64 on the CPU). Run:
 *   node bin/run-ts.mjs bench/check-reference.ts
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { STUDENT_SHAPES } from './protocol.ts';
import { hostWeights, makeBatch, studentSpec, LOSS } from './model/student.ts';
import { referenceDistillLoss, referenceLogits } from './model/reference.ts';

const shape = { ...STUDENT_SHAPES.ci, T: 24 };
const spec = studentSpec(shape);
const student = hostWeights(spec, 11), teacher = hostWeights(spec, 12, 0.05);
const batch = makeBatch(shape);
const ls = referenceLogits(spec, student, batch.ids, batch.B, batch.T);
const lt = referenceLogits(spec, teacher, batch.ids, batch.B, batch.T);
const loss = referenceDistillLoss(ls, lt, batch.labels, spec.vocabSize, LOSS.alpha, LOSS.temperature);

const dir = mkdtempSync(join(tmpdir(), 'retort-ref-'));
const dump = (w: Map<string, Float32Array>) => Object.fromEntries([...w].map(([k, v]) => [k, Array.from(v)]));
writeFileSync(join(dir, 'in.json'), JSON.stringify({ spec, student: dump(student), teacher: dump(teacher), ids: Array.from(batch.ids), labels: Array.from(batch.labels), B: batch.B, T: batch.T, ...LOSS }));

const py = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(resolve('src/runner/torch'))})
from retort_torch.config import ModelConfig
from retort_torch.model import CausalLM
d = json.load(open(${JSON.stringify(join(dir, 'in.json'))}))
s = d['spec']
cfg = ModelConfig(model_type='qwen2', vocab_size=s['vocabSize'], hidden_size=s['hidden'], intermediate_size=s['intermediate'],
    num_hidden_layers=s['layers'], num_attention_heads=s['heads'], num_key_value_heads=s['kvHeads'], head_dim=s['headDim'],
    rms_norm_eps=s['rmsEps'], rope_theta=s['ropeTheta'], tie_word_embeddings=True, qkv_bias=True, max_position_embeddings=s['maxPositions'])
def logits(w):
    m = CausalLM(cfg).double()
    sd = {k: torch.tensor(v, dtype=torch.float64).reshape(m.state_dict()[k].shape) for k, v in w.items()}
    m.load_state_dict(sd, strict=False)
    ids = torch.tensor(d['ids']).reshape(d['B'], d['T'])
    with torch.no_grad():
        return m(ids).logits.reshape(d['B'] * d['T'], -1)
ls, lt = logits(d['student']), logits(d['teacher'])
lab = torch.tensor(d['labels']); keep = lab >= 0; T = d['temperature']; a = d['alpha']
kl = (torch.softmax(lt / T, -1) * (torch.log_softmax(lt / T, -1) - torch.log_softmax(ls / T, -1))).sum(-1)
ce = torch.nn.functional.cross_entropy(ls, lab.clamp(min=0), reduction='none')
loss = ((a * T * T * kl + (1 - a) * ce)[keep]).mean()
json.dump({'student': ls.flatten().tolist(), 'teacher': lt.flatten().tolist(), 'loss': loss.item()}, open(${JSON.stringify(join(dir, 'out.json'))}, 'w'))
`;
execFileSync(process.env.RETORT_PYTHON ?? '/usr/bin/python3', ['-c', py], { stdio: 'inherit' });
const torch = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'out.json'), 'utf8')) as { student: number[]; teacher: number[]; loss: number };

function rel(a: Float64Array, b: number[]): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}
const errs = { student: rel(ls, torch.student), teacher: rel(lt, torch.teacher), loss: Math.abs(loss - torch.loss) / Math.abs(torch.loss) };
console.log(`reference vs torch worker (float64): student logits ${errs.student.toExponential(2)}, teacher logits ${errs.teacher.toExponential(2)}, loss ${errs.loss.toExponential(2)} (loss ${loss.toFixed(6)})`);
// Not 1e-15: the torch model keeps RoPE's inv_freq in float32, as HF does.
if (Math.max(errs.student, errs.teacher, errs.loss) > 1e-6) {
  console.error('FAILED: the bench reference disagrees with the torch worker');
  process.exit(1);
}
