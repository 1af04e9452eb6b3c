/**
 * Runs and their checkpoint files in IndexedDB, so the tab's training survives a reload: the engine
 * worker keeps jobs in memory only (src/engine/session/local-session.ts). Two object stores:
 * `runs` (RunRecord by id) and `files` (checkpoint bytes by `runId/step/name`).
 */
import { isTerminalState } from '../../core/telemetry.ts';
import type { RunRecord } from './run-model.ts';

const DB_NAME = 'retort';
const VERSION = 1;

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

let opened: Promise<IDBDatabase> | null = null;

function db(): Promise<IDBDatabase> {
  return (opened ??= new Promise((resolve, reject) => {
    const open = indexedDB.open(DB_NAME, VERSION);
    open.onupgradeneeded = () => {
      open.result.createObjectStore('runs', { keyPath: 'id' });
      open.result.createObjectStore('files');
    };
    open.onsuccess = () => resolve(open.result);
    open.onerror = () => reject(new Error(`cannot open the run store (IndexedDB "${DB_NAME}"): ${open.error?.message ?? 'unknown error'}`));
  }));
}

async function store(name: 'runs' | 'files', mode: IDBTransactionMode): Promise<IDBObjectStore> {
  return (await db()).transaction(name, mode).objectStore(name);
}

const fileKey = (run: string, step: number, name: string) => `${run}/${step}/${name}`;

export async function saveRun(run: RunRecord): Promise<void> {
  // Structured clone of a plain snapshot: lit state objects may carry nothing unclonable, but be sure.
  await request((await store('runs', 'readwrite')).put(JSON.parse(JSON.stringify(run)) as RunRecord));
}

/** Every stored run, oldest first. */
export async function listRuns(): Promise<RunRecord[]> {
  await markInterrupted();
  return allRuns();
}

async function allRuns(): Promise<RunRecord[]> {
  const runs = await request((await store('runs', 'readonly')).getAll() as IDBRequest<RunRecord[]>);
  return runs.sort((a, b) => a.created - b.created);
}

export async function deleteRun(id: string): Promise<void> {
  await request((await store('runs', 'readwrite')).delete(id));
  const files = await store('files', 'readwrite');
  await request(files.delete(IDBKeyRange.bound(`${id}/`, `${id}/\uffff`)));
}

export async function saveCheckpointFiles(run: string, step: number, files: Map<string, Uint8Array>): Promise<void> {
  const s = await store('files', 'readwrite');
  await Promise.all([...files].map(([name, bytes]) => request(s.put(bytes, fileKey(run, step, name)))));
}

/** A stored checkpoint's files by name (empty when none were stored). */
export async function loadCheckpointFiles(run: string, step: number): Promise<Map<string, Uint8Array>> {
  const s = await store('files', 'readonly');
  const prefix = `${run}/${step}/`;
  const range = IDBKeyRange.bound(prefix, `${prefix}\uffff`);
  const [keys, values] = await Promise.all([request(s.getAllKeys(range)), request(s.getAll(range) as IDBRequest<Uint8Array[]>)]);
  return new Map(keys.map((k, i) => [String(k).slice(prefix.length), values[i]]));
}

/** The newest stored run of a mode, or null. */
export async function latestRun(mode: RunRecord['mode']): Promise<RunRecord | null> {
  return (await listRuns()).filter((r) => r.mode === mode).pop() ?? null;
}

let interruptedMarked: Promise<void> | null = null;

/**
 * Once per page: a local run stored as still going was cut off by a reload (the engine worker
 * died with the old page); say so instead of showing it as running forever.
 */
export function markInterrupted(): Promise<void> {
  return (interruptedMarked ??= (async () => {
    for (const r of await allRuns()) {
      if (r.mode !== 'local' || isTerminalState(r.state)) continue;
      r.state = 'stopped';
      r.errors.push('interrupted: the page was reloaded while this run was training');
      await saveRun(r);
    }
  })());
}
