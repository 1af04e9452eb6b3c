/**
 * Model folders exported in the page (src/onnx/export.ts returns the files instead of writing them),
 * held in memory and handed to transformers.js through its documented custom-cache hook
 * (`env.useCustomCache` / `env.customCache`, the Web Cache API's `match` and `put`): the export is
 * loaded without being written anywhere, and the pre-flight check reads the same bytes.
 */
import { env } from '@huggingface/transformers';
import { joinPath, MapFileSource } from '../core/files.ts';
import type { ExportedFile } from './export.ts';
import { concat } from './proto.ts';

export class MemoryModels {
  /** Every held folder's files, by `<folder>/<path>`. */
  readonly files = new MapFileSource();
  private readonly folders = new Map<string, string[]>();

  /** Holds an export as `folder` (replacing what was there); returns its files, whole. */
  add(folder: string, exported: readonly ExportedFile[]): Map<string, Uint8Array> {
    const whole = new Map(exported.map((f) => [f.path, f.chunks.length === 1 ? f.chunks[0] : concat(f.chunks)] as const));
    for (const [path, bytes] of whole) this.files.set(joinPath(folder, path), bytes);
    this.folders.set(folder, [...whole.keys()]);
    return whole;
  }

  has(folder: string): boolean {
    return this.folders.has(folder);
  }

  /** A held folder's files, relative to it (what a download archive contains). */
  async folderFiles(folder: string): Promise<Map<string, Uint8Array>> {
    const paths = this.folders.get(folder);
    if (!paths) throw new Error(`no exported folder '${folder}' is held in this worker`);
    return new Map(await Promise.all(paths.map(async (p) => [p, await this.files.readBytes(joinPath(folder, p))] as const)));
  }

  /**
   * Serves held folders to transformers.js while `use` is true. Its cache keys are
   * `env.localModelPath + folder/file`; anything else is not answered, so it is fetched as usual.
   */
  serve(use: boolean): void {
    env.useCustomCache = use;
    if (!use) return;
    env.customCache = {
      match: async (key: string | Request) => {
        const path = heldPath(typeof key === 'string' ? key : key.url);
        if (path === null || !(await this.files.exists(path))) return undefined;
        const bytes = await this.files.readBytes(path);
        return new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-length': String(bytes.length) } });
      },
      put: async () => {}, // the files are already here
    };
  }
}

/**
 * `folder/file` from a cache key: `env.localModelPath + folder/file`, or the remote-URL form
 * `<remoteHost>/<folder>/resolve/<revision>/<file>` under which transformers.js asks for a hit again
 * when it wants the file's path (Node). Null for anything else.
 */
function heldPath(key: string): string | null {
  if (key.startsWith(env.localModelPath)) return key.slice(env.localModelPath.length);
  if (!key.startsWith(env.remoteHost)) return null;
  const m = /^\/*(.+?)\/resolve\/[^/]+\/(.+)$/.exec(key.slice(env.remoteHost.length));
  return m ? `${m[1]}/${m[2]}` : null;
}
