/// <reference lib="webworker" />
/**
 * The local engine in a Web Worker, exposed through comlink: the page never touches WebGPU on the
 * main thread, so training keeps it responsive. Streams (tokens, events) come back through proxied
 * callbacks; `src/ui/sessions/local-session.ts` turns them into the DistillSession's async iterables.
 */
import { expose, transfer } from 'comlink';
import { Runtime } from '../src/engine/runtime.ts';
import { EngineSession } from '../src/engine/session/local-session.ts';
import { engineSelfTest, type SelfTestResult } from '../src/engine/session/self-test.ts';
import { HttpFileSource } from '../src/core/http-files.ts';
import { MapFileSource, normalizePath, type FileSource } from '../src/core/files.ts';
import type { GpuEnv } from '../src/engine/env.ts';
import type { GenerateRequest, JobAction, LoadRequest, ProbeRequest } from '../src/core/session.ts';
import type { JobSpec } from '../src/core/schema/index.ts';
import type { TelemetryEvent } from '../src/core/telemetry.ts';
import type { TokenEvent } from '../src/core/session.ts';

let runtime: Promise<Runtime> | null = null;
// A promise, so calls arriving while the GPU comes up share one session instead of each making one.
let session: Promise<EngineSession> | null = null;

function gpu(): Promise<Runtime> {
  if (!('gpu' in navigator) || !navigator.gpu) {
    return Promise.reject(new Error('WebGPU is not available in this browser (use a recent Chrome or Edge, or enable WebGPU in your browser settings)'));
  }
  return (runtime ??= Runtime.create(navigator.gpu).then((rt) => {
    rt.onLost((e) => {
      // A lost device (driver reset, GPU removed) cannot be reused: the next call makes a new one.
      runtime = null;
      session = null;
      console.error(e.message);
    });
    return rt;
  }));
}

/** Folders the page handed over (`addFiles`) live under this prefix; every other path is fetched. */
const UPLOADS = 'uploads/';
const uploads = new MapFileSource();

/** The page's static files over HTTP, with the uploaded folders laid over `uploads/`. */
function pageFiles(): FileSource {
  const http = new HttpFileSource(self.location.origin + baseUrl);
  const pick = (path: string): FileSource => (normalizePath(path).startsWith(UPLOADS) ? uploads : http);
  return {
    readBytes: (path) => pick(path).readBytes(path),
    readText: (path) => pick(path).readText(path),
    exists: (path) => pick(path).exists(path),
  };
}

function theSession(): Promise<EngineSession> {
  return (session ??= gpu().then((rt) => new EngineSession(rt, pageFiles())));
}

let baseUrl = '/';

export const engineApi = {
  /** Where the page's static files are (the demo models and data live under it). */
  setBase(base: string): void {
    baseUrl = base;
  },
  /** Files of a folder picked in the page, as `uploads/<dir>/<name>` (load it with path `uploads/<dir>`). */
  addFiles(dir: string, files: [name: string, bytes: Uint8Array][]): string {
    const root = `${UPLOADS}${dir}`;
    for (const [name, bytes] of files) uploads.set(`${root}/${name}`, bytes);
    return root;
  },
  async env(): Promise<GpuEnv> {
    return (await gpu()).env;
  },
  async selfTest(steps: number): Promise<SelfTestResult> {
    return engineSelfTest(await gpu(), steps);
  },
  async info() {
    return (await theSession()).info();
  },
  async load(req: LoadRequest) {
    return (await theSession()).load(req);
  },
  async probe(req: ProbeRequest) {
    return (await theSession()).probe(req);
  },
  async generate(req: GenerateRequest, onToken: (t: TokenEvent) => void): Promise<void> {
    for await (const t of (await theSession()).generate(req)) onToken(t);
  },
  async start(spec: JobSpec) {
    return (await theSession()).start(spec);
  },
  async events(job: string, since: number, onEvent: (e: TelemetryEvent) => void): Promise<void> {
    for await (const e of (await theSession()).events(job, since)) onEvent(e);
  },
  async control(job: string, action: JobAction) {
    return (await theSession()).control(job, action);
  },
  async checkpoints(job: string) {
    return (await theSession()).checkpoints(job);
  },
  async checkpointFile(job: string, step: number, name: string): Promise<Uint8Array | null> {
    const f = (await theSession()).checkpointFiles(job, step)?.get(name);
    if (!f) return null;
    const copy = f.slice();
    return transfer(copy, [copy.buffer]);
  },
};

export type EngineApi = typeof engineApi;

expose(engineApi);
