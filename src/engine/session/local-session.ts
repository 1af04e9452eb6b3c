import type {
  CheckpointInfo, DistillSession, GenerateRequest, JobAction, JobId, LoadRequest, ModelInfo, ModelRole,
  GenerateStats, ProbeRequest, ProbeResult, SessionInfo, TokenEvent,
} from '../../core/session.ts';
import { GenerateRequestSchema, LoadRequestSchema, ProbeRequestSchema } from '../../core/session.ts';
import type { JobSpec } from '../../core/schema/index.ts';
import { stampEvent, type TelemetryEvent, type TelemetryEventBody } from '../../core/telemetry.ts';
import type { FileSource } from '../../core/files.ts';
import { countParams } from '../../core/model-spec.ts';
import { loadTokenizer, checkVocabCompatibility, checkTeacherStudentTokenizers, type Tokenizer } from '../../core/tokenizer.ts';
import type { Runtime } from '../runtime.ts';
import { Decoder } from '../model/decoder.ts';
import { loadWeights, type WeightDtype } from '../model/weights.ts';
import { generate } from '../generate.ts';
import { runDistill } from '../train/trainer.ts';
import type { CheckpointFiles } from '../model/save.ts';
import { probePosition, logSoftmax, klFromLog } from './probe.ts';
import { nextPiece } from '../../core/stop-strings.ts';

interface Loaded {
  model: Decoder;
  tokenizer: Tokenizer;
  info: ModelInfo;
}

interface Job {
  events: TelemetryEvent[];
  listeners: Set<() => void>;
  control: 'run' | 'pause' | 'stop';
  checkpoints: CheckpointInfo[];
  files: Map<number, CheckpointFiles>;
  done: boolean;
}

/**
 * The engine behind the DistillSession seam, in this process (a browser worker, or Node): models
 * live on this runtime; jobs run one at a time and keep their events for replay.
 */
export class EngineSession implements DistillSession {
  private models: Partial<Record<ModelRole, Loaded>> = {};
  private readonly jobs = new Map<JobId, Job>();
  private nextJob = 1;

  constructor(readonly rt: Runtime, readonly files: FileSource, readonly version = 'dev') {}

  async info(): Promise<SessionInfo> {
    const env = this.rt.env;
    return {
      mode: 'local',
      device: `${env.adapter} (WebGPU${env.isSoftware ? ', software' : ''})`,
      // GPU memory the engine holds (its buffer pool: weights, activations, optimizer state, free buffers).
      limits: { ...env.limits, gpuAllocatedBytes: this.rt.pool.allocatedBytes, gpuInUseBytes: this.rt.pool.inUseBytes, gpuPeakInUseBytes: this.rt.pool.peakInUseBytes },
      features: Object.entries(env.features).filter(([, on]) => on).map(([f]) => f),
      jobs: ['distill'],
      models: Object.values(this.models).map((m) => m!.info),
      version: this.version,
    };
  }

  async load(req: LoadRequest): Promise<ModelInfo[]> {
    const r = LoadRequestSchema.parse(req);
    for (const role of ['teacher', 'student'] as const) {
      const ref = r[role];
      if (!ref) continue;
      this.models[role]?.model.dispose();
      delete this.models[role];
      const dtype: WeightDtype = role === 'teacher' ? ((ref.dtype as WeightDtype | undefined) ?? 'f32') : 'f32';
      const weights = await loadWeights(this.rt, this.files, ref.path, dtype);
      const tokenizer = await loadTokenizer(this.files, ref.path);
      const { logitVocab } = checkVocabCompatibility(tokenizer, weights.spec, `${ref.path}/config.json`);
      const model = new Decoder(this.rt, weights);
      const s = weights.spec;
      this.models[role] = {
        model, tokenizer,
        info: {
          role, name: ref.path.replace(/\/$/, '').split('/').pop() ?? ref.path, path: ref.path,
          architecture: { qwen2: 'Qwen2ForCausalLM', qwen3: 'Qwen3ForCausalLM', llama: 'LlamaForCausalLM' }[s.arch],
          params: countParams(s), layers: s.layers, hidden: s.hidden, heads: s.heads, kvHeads: s.kvHeads,
          vocab: logitVocab, configVocab: s.vocabSize, dtype,
        },
      };
    }
    const { teacher, student } = this.models;
    if (teacher && student) checkTeacherStudentTokenizers(teacher.tokenizer, student.tokenizer);
    return Object.values(this.models).map((m) => m!.info);
  }

  private need(role: ModelRole): Loaded {
    const m = this.models[role];
    if (!m) throw new Error(`no ${role} is loaded: load one first`);
    return m;
  }

  /** Logits of a whole sequence, [S, vocab] on the host (vocab = the tokenizer's, padded rows dropped). */
  private async logitsOf(m: Loaded, ids: Int32Array): Promise<Float32Array[]> {
    const { hidden } = m.model.forward(ids, 1, ids.length);
    const logits = m.model.logits(hidden);
    const all = await this.rt.readF32(logits);
    hidden.dispose();
    logits.dispose();
    const Vp = m.model.spec.vocabSize;
    return Array.from({ length: ids.length }, (_, t) => all.subarray(t * Vp, t * Vp + m.info.vocab));
  }

  async probe(req: ProbeRequest): Promise<ProbeResult> {
    const r = ProbeRequestSchema.parse(req);
    const teacher = this.need('teacher');
    const student = this.need('student');
    const tok = student.tokenizer;
    const ids = r.ids
      ? Int32Array.from(r.ids)
      : Int32Array.from(r.chatTemplate ? tok.applyChatTemplate([{ role: 'user', content: r.text! }], { addGenerationPrompt: true }).ids : tok.encode(r.text!));
    const [lt, ls] = [await this.logitsOf(teacher, ids), await this.logitsOf(student, ids)];
    const S = ids.length;
    const decode = (id: number) => tok.decodeToken(id);
    const positions = (r.positions ?? [-1]).map((p) => (p < 0 ? S + p : p));
    for (const p of positions) if (p < 0 || p >= S) throw new Error(`probe: position ${p} is outside the ${S} tokens`);
    const perToken = { kl: [] as number[], ce: [] as number[] };
    for (let i = 0; i + 1 < S; i++) {
      const a = logSoftmax(lt[i], 1);
      const b = logSoftmax(ls[i], 1);
      perToken.kl.push(klFromLog(a, b));
      perToken.ce.push(-b[ids[i + 1]]);
    }
    return {
      ids: Array.from(ids),
      tokens: Array.from(ids, decode),
      temperatures: r.temperatures,
      positions: positions.map((p) => probePosition(p, lt[p], ls[p], r.temperatures, r.topK, decode, p + 1 < S ? ids[p + 1] : undefined)),
      perToken,
    };
  }

  async *generate(req: GenerateRequest): AsyncIterable<TokenEvent> {
    const r = GenerateRequestSchema.parse(req);
    if (r.model !== 'teacher' && r.model !== 'student') throw new Error(`generate: model "${r.model}" is not loaded here (teacher or student)`);
    const m = this.need(r.model);
    const tok = m.tokenizer;
    const prompt = r.ids
      ? Int32Array.from(r.ids)
      : Int32Array.from(r.chatTemplate ? tok.applyChatTemplate([{ role: 'user', content: r.prompt! }], { addGenerationPrompt: true }).ids : tok.encode(r.prompt!));
    const s = r.sampling;
    const out: number[] = [];
    const t0 = performance.now();
    let tFirst = t0; // decode throughput is timed from the first token: the prefill is not decode
    let sent = 0;
    const stats = (finishReason: GenerateStats['finishReason']): GenerateStats => {
      const decodeS = (performance.now() - tFirst) / 1000;
      const decoded = out.length - 1; // tokens after the first
      return { promptTokens: prompt.length, newTokens: out.length, tokensPerS: decoded > 0 && decodeS > 0 ? decoded / decodeS : 0, finishReason };
    };
    for await (const id of generate(m.model, prompt, {
      temperature: s.temperature, topP: s.topP, topK: s.topK, repetitionPenalty: s.repetitionPenalty,
      maxNewTokens: s.maxNewTokens, seed: s.seed ?? Math.floor(Math.random() * 2 ** 31), stopIds: tok.eosIds, vocab: m.info.vocab,
    })) {
      if (out.length === 0) tFirst = performance.now();
      out.push(id);
      const eos = tok.eosIds.includes(id);
      const length = out.length >= s.maxNewTokens;
      const next = nextPiece(tok.decode(out, { skipSpecial: true }), sent, s.stop, eos || length);
      sent = next.sent;
      const done = eos || length || next.stopped;
      const finish = next.stopped ? 'stop' : eos ? 'eos' : 'length';
      yield { id, text: next.piece, done, ...(done ? { stats: stats(finish) } : {}) };
      if (done) return;
    }
    // The generator ended without our own stop rule firing (it honours the same eos ids and length).
    yield { id: -1, text: '', done: true, stats: stats('eos') };
  }

  async start(spec: JobSpec): Promise<JobId> {
    if (spec.kind !== 'distill') throw new Error(`this browser runs distill jobs; send "${spec.kind}" jobs to a runner`);
    const id = `local-${this.nextJob++}`;
    const job: Job = { events: [], listeners: new Set(), control: 'run', checkpoints: [], files: new Map(), done: false };
    this.jobs.set(id, job);
    const emit = (body: TelemetryEventBody) => {
      job.events.push(stampEvent(body, id, job.events.length, Date.now()));
      for (const l of job.listeners) l();
    };
    emit({ type: 'state', state: 'queued' });
    void (async () => {
      try {
        const student = this.need('student');
        const teacher = this.models.teacher ?? null;
        await runDistill(this.rt, spec, { student: student.model, teacher: teacher?.model ?? null, tokenizer: student.tokenizer, logitVocab: student.info.vocab }, this.files, {
          emit,
          control: () => job.control,
          codeVersion: this.version,
          saveCheckpoint: async (step, files) => {
            job.files.set(step, files);
            const bytes = [...files.values()].reduce((n, f) => n + f.byteLength, 0);
            job.checkpoints.push({ step, path: `${id}/step-${step}`, bytes, time: Date.now() });
            return `${id}/step-${step}`;
          },
        });
      } catch (e) {
        emit({ type: 'error', message: (e as Error).message, recoverable: false });
        emit({ type: 'state', state: 'failed' });
      } finally {
        job.done = true;
        for (const l of job.listeners) l();
      }
    })();
    return id;
  }

  async *events(jobId: JobId, since = -1): AsyncIterable<TelemetryEvent> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    let next = since + 1;
    while (true) {
      while (next < job.events.length) yield job.events[next++];
      if (job.done) return;
      await new Promise<void>((resolve) => {
        const l = () => {
          job.listeners.delete(l);
          resolve();
        };
        job.listeners.add(l);
      });
    }
  }

  async control(jobId: JobId, action: JobAction): Promise<void> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    job.control = action === 'resume' ? 'run' : action;
  }

  async checkpoints(jobId: JobId): Promise<CheckpointInfo[]> {
    const job = this.jobs.get(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    return [...job.checkpoints];
  }

  /** A checkpoint's files (to download, or to store in OPFS). */
  checkpointFiles(jobId: JobId, step: number): CheckpointFiles | undefined {
    return this.jobs.get(jobId)?.files.get(step);
  }
}
