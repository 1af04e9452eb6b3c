/**
 * Models the runner serves through the Python serve worker: `teacher` and `student` (POST /v1/load),
 * folders given with `--serve` (named by their last segment), and any model folder in the workspace
 * (named by its workspace path). Text is tokenized here, with the shared TypeScript tokenizer, so
 * the serve worker sees token ids only.
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { NodeFileSource } from '../node/files.ts';
import type { ModelRef } from '../core/schema/model-ref.ts';
import {
  type GenerateStats,
  type LoadRequest,
  type ModelInfo,
  type ModelRole,
  type ProbeResult,
  type ResolvedGenerateRequest,
  type ResolvedProbeRequest,
  type TokenEvent,
} from '../core/session.ts';
import type { ChatMessage, Tokenizer } from '../core/tokenizer.ts';
import type { ServeFinish, ServeSampling, ServeToken } from './protocol.ts';
import { ServeError, type ServeWorker } from './serve-worker.ts';
import { tokenizerOf } from './tokenizers.ts';
import type { Workspace } from './workspace.ts';

export interface ServedModel {
  name: string;
  path: string; // absolute
  dtype?: ModelRef['dtype'];
  adapter?: string;
}

/** The request names something that is not there or cannot be used (HTTP 400 / 404). */
export class ModelRequestError extends Error {
  override name = 'ModelRequestError';
  constructor(
    readonly statusCode: 400 | 404,
    message: string,
  ) {
    super(message);
  }
}

export interface Generation {
  ids: number[]; // prompt ids
  tokens: AsyncGenerator<{ token: ServeToken } | { done: true; ids: number[]; text: string; finish: ServeFinish; stats?: Record<string, number | undefined> }>;
}

export class ModelService {
  private readonly served = new Map<string, ServedModel>();
  private readonly roles = new Map<ModelRole, ServedModel>();

  constructor(
    private readonly workspace: Workspace,
    private readonly serve: ServeWorker,
    serveDirs: readonly string[] = [],
  ) {
    for (const dir of serveDirs) {
      let name = basename(dir.replace(/\/+$/, ''));
      for (let i = 2; this.served.has(name); i++) name = `${basename(dir)}-${i}`;
      this.served.set(name, { name, path: dir });
    }
  }

  /** Loaded models' infos (what /v1/info reports). */
  loadedInfos(): ModelInfo[] {
    return this.serve.models.flatMap((m) => (m.info ? [m.info] : []));
  }

  /** Names /v1/models lists: roles, --serve folders, and model folders under WORKSPACE/models/. */
  async names(): Promise<string[]> {
    const names = [...this.roles.keys(), ...this.served.keys()];
    const dir = join(this.workspace.root, 'models');
    for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (entry.isDirectory() && (await stat(join(dir, entry.name, 'config.json')).catch(() => null))) names.push(`models/${entry.name}`);
    }
    return [...new Set(names)];
  }

  async load(req: LoadRequest): Promise<ModelInfo[]> {
    const out: ModelInfo[] = [];
    for (const role of ['teacher', 'student'] as const) {
      const ref = req[role];
      const adapter = role === 'student' && req.adapter ? await this.workspace.resolve(req.adapter, 'adapter') : undefined;
      if (!ref && !adapter) continue;
      const base = ref ? { path: await this.workspace.resolve(ref.path, `${role}.path`), dtype: ref.dtype } : this.roles.get(role);
      if (!base) throw new ModelRequestError(400, 'adapter: no student loaded to apply it to; give student too');
      const model: ServedModel = { name: role, path: base.path, ...(base.dtype ? { dtype: base.dtype } : {}), ...(adapter ? { adapter } : {}) };
      const info = await this.serve.ensureLoaded(model);
      this.roles.set(role, model);
      out.push({ ...info, role });
    }
    return out;
  }

  /** `name` → a loaded model: a role, a --serve name, or a model folder in the workspace. */
  async resolve(name: string, field = 'model'): Promise<ServedModel> {
    const known = this.roles.get(name as ModelRole) ?? this.served.get(name);
    const model = known ?? { name, path: await this.workspace.resolve(name, field) };
    if (!known && !(await stat(join(model.path, 'config.json')).catch(() => null)))
      throw new ModelRequestError(404, `${field}: no model '${name}' (not loaded, not given with --serve, and no config.json at that workspace path)`);
    await this.serve.ensureLoaded(model);
    return model;
  }

  tokenizer(model: ServedModel): Promise<Tokenizer> {
    return tokenizerOf(new NodeFileSource(this.workspace.root), model.path);
  }

  async probe(req: ResolvedProbeRequest): Promise<ProbeResult> {
    const teacher = this.roles.get('teacher');
    const student = this.roles.get('student');
    if (!teacher || !student) throw new ModelRequestError(400, 'probe needs a teacher and a student: POST /v1/load first');
    const tok = await this.tokenizer(student);
    const ids = req.ids ?? (req.chatTemplate ? tok.applyChatTemplate([{ role: 'user', content: req.text! }]).ids : tok.encode(req.text!, { addSpecialTokens: true }));
    await this.serve.ensureLoaded(teacher);
    await this.serve.ensureLoaded(student);
    const r = await this.serve.call({
      op: 'probe',
      teacher: 'teacher',
      student: 'student',
      ids,
      ...(req.positions ? { positions: req.positions } : {}),
      temperatures: req.temperatures,
      topK: req.topK,
    });
    if (!r.result) throw new ServeError('probe: the serve worker answered without a result');
    const result = r.result;
    if (!result.tokens || result.tokens.length !== result.ids.length) result.tokens = result.ids.map((id) => tok.decodeToken(id));
    return result;
  }

  /** Start a generation from a prompt (chat template optional), messages, or ids. */
  async start(
    model: ServedModel,
    prompt: { text?: string; ids?: number[]; messages?: ChatMessage[]; chatTemplate: boolean },
    sampling: ServeSampling,
    logprobs?: number,
  ): Promise<Generation> {
    const tok = await this.tokenizer(model);
    let ids = prompt.ids;
    if (!ids && prompt.messages) {
      if (!tok.hasChatTemplate) throw new ModelRequestError(400, `model '${model.name}' has no chat template`);
      ids = tok.applyChatTemplate(prompt.messages, { addGenerationPrompt: true }).ids;
    }
    ids ??= prompt.chatTemplate && tok.hasChatTemplate
      ? tok.applyChatTemplate([{ role: 'user', content: prompt.text ?? '' }], { addGenerationPrompt: true }).ids
      : tok.encode(prompt.text ?? '', { addSpecialTokens: true });
    const tokens = this.serve.generate({ op: 'generate', model: model.name, ids, sampling, ...(logprobs ? { logprobs } : {}) });
    return { ids, tokens };
  }

  /** DistillSession.generate: TokenEvents, the last one done with stats (id −1 when no token is left to carry them). */
  async *generate(req: ResolvedGenerateRequest): AsyncGenerator<TokenEvent> {
    const model = await this.resolve(req.model);
    const started = Date.now();
    const gen = await this.start(model, { text: req.prompt, ids: req.ids, chatTemplate: req.chatTemplate }, serveSampling(req.sampling));
    let held: TokenEvent | null = null;
    let count = 0;
    for await (const r of gen.tokens) {
      if ('token' in r) {
        if (held) yield held;
        held = { id: r.token.id, text: r.token.text, done: false };
        count++;
        continue;
      }
      const seconds = Math.max(1e-3, (Date.now() - started) / 1000);
      const stats: GenerateStats = {
        promptTokens: r.stats?.promptTokens ?? gen.ids.length,
        newTokens: r.stats?.newTokens ?? count,
        tokensPerS: r.stats?.tokensPerS ?? count / seconds,
        finishReason: r.finish,
      };
      yield held ? { ...held, done: true, stats } : { id: -1, text: '', done: true, stats };
      return;
    }
  }
}

export function serveSampling(s: ResolvedGenerateRequest['sampling']): ServeSampling {
  return {
    temperature: s.temperature,
    topP: s.topP,
    topK: s.topK,
    repetitionPenalty: s.repetitionPenalty,
    maxNewTokens: s.maxNewTokens,
    ...(s.seed !== undefined ? { seed: s.seed } : {}),
    ...(s.stop.length ? { stop: s.stop } : {}),
  };
}
