/**
 * Owns the DistillSession for the shell: which mode (this browser's WebGPU, or a runner), the
 * session's lifetime (a local session's worker is terminated when replaced or when the shell goes),
 * the demo models loaded on start, and the loading/error state the shell shows.
 */
import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { DistillSession, ModelRole, SessionInfo } from '../../core/session.ts';
import { RunnerSession } from '../../runner/client.ts';
import { LocalSession } from '../sessions/local-session.ts';

export type Mode = 'local' | 'runner';

export interface RunnerSettings {
  url: string;
  token: string;
}

/** What the shell shows while a session comes up. `step`/`steps` drive a progress bar. */
export interface LoadStatus {
  phase: 'idle' | 'connecting' | 'loading' | 'ready' | 'no-webgpu' | 'error';
  message: string;
  step?: number;
  steps?: number;
}

const STORE = { mode: 'retort.mode', runner: 'retort.runner' } as const;

/** The embedded demo models, relative to the app's base (public/models/). */
export const DEMO = { teacher: 'models/demo-teacher', student: 'models/demo-student' } as const;

export function storedMode(): Mode {
  return localStorage.getItem(STORE.mode) === 'runner' ? 'runner' : 'local';
}

export function storedRunner(): RunnerSettings {
  try {
    const r = JSON.parse(localStorage.getItem(STORE.runner) ?? '{}') as Partial<RunnerSettings>;
    return { url: r.url ?? 'http://127.0.0.1:7860', token: r.token ?? '' };
  } catch {
    return { url: 'http://127.0.0.1:7860', token: '' };
  }
}

/** Why WebGPU cannot be used on this page, or null when an adapter is there. */
export async function webgpuProblem(): Promise<string | null> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return window.isSecureContext
      ? 'This browser has no WebGPU.'
      : 'WebGPU needs a secure page (https:// or http://localhost); this page is served over plain http.';
  }
  const adapter = await navigator.gpu.requestAdapter().catch(() => null);
  return adapter ? null : 'This browser has WebGPU, but it found no GPU adapter (it may be blocked for this GPU or driver).';
}

export class SessionController implements ReactiveController {
  session: DistillSession | null = null;
  info: SessionInfo | null = null;
  mode: Mode = storedMode();
  status: LoadStatus = { phase: 'idle', message: '' };
  /** Bumped on every connect, so a slow old connect cannot overwrite a newer one. */
  private generation = 0;
  /** A local session still loading its models (disposed if the user switches away meanwhile). */
  private starting: LocalSession | null = null;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostConnected(): void {
    void this.connect(this.mode);
  }

  hostDisconnected(): void {
    this.dispose();
  }

  /** Switches to `mode` (remembered), making a new session; local mode loads the demo models. */
  async connect(mode: Mode, runner: RunnerSettings = storedRunner()): Promise<void> {
    const gen = ++this.generation;
    this.dispose();
    this.mode = mode;
    this.info = null;
    localStorage.setItem(STORE.mode, mode);
    if (mode === 'runner') localStorage.setItem(STORE.runner, JSON.stringify(runner));
    try {
      if (mode === 'local') await this.connectLocal(gen);
      else await this.connectRunner(gen, runner);
    } catch (e) {
      if (gen === this.generation) this.set({ phase: 'error', message: (e as Error).message });
    }
  }

  /** Loads a model folder the user picked in the browser as teacher or student (local mode). */
  async loadFolder(role: ModelRole, files: File[]): Promise<void> {
    const session = this.session;
    if (!(session instanceof LocalSession)) throw new Error('loading a folder from this computer needs the local (WebGPU) mode');
    this.set({ phase: 'loading', message: `Loading the ${role} from ${files.length} files…` });
    try {
      await session.loadFiles(role, files);
      await this.refresh();
      this.set({ phase: 'ready', message: '' });
    } catch (e) {
      this.set({ phase: 'error', message: `${role}: ${(e as Error).message}` });
    }
  }

  /** Re-reads SessionInfo (after a load, or when a view changed what is loaded). */
  async refresh(): Promise<void> {
    if (!this.session) return;
    this.info = await this.session.info();
    this.host.requestUpdate();
  }

  private async connectLocal(gen: number): Promise<void> {
    this.set({ phase: 'connecting', message: 'Looking for a WebGPU adapter…', step: 0, steps: 3 });
    const problem = await webgpuProblem();
    if (gen !== this.generation) return;
    if (problem) return this.set({ phase: 'no-webgpu', message: problem });
    // Views get the session only once both models are in: a probe must not race the loads.
    const session = new LocalSession();
    this.starting = session;
    for (const [i, role] of (['teacher', 'student'] as const).entries()) {
      this.set({ phase: 'loading', message: `Loading the demo ${role}…`, step: i + 1, steps: 3 });
      await session.load({ [role]: { path: DEMO[role] } });
      if (gen !== this.generation) return;
    }
    const info = await session.info();
    if (gen !== this.generation) return;
    this.session = session;
    this.info = info;
    this.set({ phase: 'ready', message: '', step: 3, steps: 3 });
  }

  private async connectRunner(gen: number, runner: RunnerSettings): Promise<void> {
    this.set({ phase: 'connecting', message: `Connecting to ${runner.url}…` });
    const session = new RunnerSession({ url: runner.url, token: runner.token });
    const info = await session.info().catch((e: Error) => {
      // fetch says only "Failed to fetch" for a refused connection, a bad certificate or CORS.
      if (e instanceof TypeError) throw new Error(`Could not reach the runner at ${runner.url} (${e.message}): is \`retort runner\` running there, and does it allow this page's origin?`);
      throw e;
    });
    if (gen !== this.generation) return;
    this.session = session;
    this.info = info;
    this.set({ phase: 'ready', message: '' });
  }

  private set(status: LoadStatus): void {
    this.status = status;
    this.host.requestUpdate();
  }

  private dispose(): void {
    for (const s of new Set([this.session, this.starting])) if (s instanceof LocalSession) s.dispose();
    this.session = null;
    this.starting = null;
  }
}
