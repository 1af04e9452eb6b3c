/**
 * The workspace folder: every file the runner reads or writes for a client lives under it. A path
 * from a request is relative, has no `..`, and — once symlinks are followed — still lands inside.
 * Writes go to a temporary file beside the target and are renamed, so readers never see half a file.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, open, realpath, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A request path that would leave the workspace or is not a plain relative path (HTTP 400). */
export class PathError extends Error {
  override name = 'PathError';
  readonly statusCode = 400;
  constructor(
    readonly field: string,
    readonly path: string,
    why: string,
  ) {
    super(`${field}: ${JSON.stringify(path)} ${why}`);
  }
}

/** An upload over its size limit (HTTP 413). */
export class TooLargeError extends Error {
  override name = 'TooLargeError';
  readonly statusCode = 413;
}

export class Workspace {
  private constructor(
    /** Absolute, symlinks resolved. */
    readonly root: string,
  ) {}

  static async open(dir: string): Promise<Workspace> {
    await mkdir(dir, { recursive: true });
    return new Workspace(await realpath(dir));
  }

  jobDir(id: string): string {
    return join(this.root, 'jobs', id);
  }

  /**
   * `rel` (from a request; `field` names where it came from) → an absolute path inside the
   * workspace. Refuses absolute paths, `..`, backslashes, NUL, and symlinks that point outside.
   * The path need not exist; its deepest existing ancestor is what the symlink check resolves.
   */
  async resolve(rel: string, field: string): Promise<string> {
    const abs = this.resolveLexically(rel, field);
    const real = await realpathOfExisting(abs);
    if (!isInside(this.root, real)) throw new PathError(field, rel, 'leaves the workspace through a symbolic link');
    return abs;
  }

  /** The checks that need no file system: shape of the path and where it points before symlinks. */
  resolveLexically(rel: string, field: string): string {
    if (typeof rel !== 'string' || rel === '') throw new PathError(field, String(rel), 'is empty');
    if (rel.includes('\0')) throw new PathError(field, rel, 'contains a NUL byte');
    if (rel.includes('\\')) throw new PathError(field, rel, 'contains a backslash (use / between folders)');
    if (isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) throw new PathError(field, rel, 'is absolute (paths are relative to the workspace)');
    if (rel.split('/').includes('..')) throw new PathError(field, rel, "contains '..' (paths must stay inside the workspace)");
    const abs = resolve(this.root, rel);
    if (!isInside(this.root, abs)) throw new PathError(field, rel, 'leaves the workspace');
    return abs;
  }

  /**
   * Stream `body` into `abs` atomically: a temporary file in the same folder, fsync, rename. More
   * than `maxBytes` → TooLargeError and nothing is left behind.
   */
  async writeAtomic(abs: string, body: Readable, maxBytes: number): Promise<number> {
    await mkdir(dirname(abs), { recursive: true });
    // The folder may have been created through a symlink planted meanwhile: check again.
    if (!isInside(this.root, await realpath(dirname(abs)))) throw new PathError('path', relative(this.root, abs), 'leaves the workspace through a symbolic link');
    const existing = await lstat(abs).catch(() => null);
    if (existing?.isSymbolicLink()) throw new PathError('path', relative(this.root, abs), 'is a symbolic link');
    if (existing?.isDirectory()) throw new PathError('path', relative(this.root, abs), 'is a folder');
    const tmp = join(dirname(abs), `.upload-${randomBytes(6).toString('hex')}.tmp`);
    let bytes = 0;
    try {
      await pipeline(
        body,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            bytes += chunk.length;
            if (bytes > maxBytes) throw new TooLargeError(`upload is larger than the limit of ${maxBytes} bytes`);
            yield chunk;
          }
        },
        createWriteStream(tmp, { flags: 'wx' }),
      );
      await fsyncPath(tmp);
      await rename(tmp, abs);
      await fsyncPath(dirname(abs));
      return bytes;
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
  }
}

export function isInside(root: string, abs: string): boolean {
  return abs === root || abs.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** realpath of `abs`, or of its deepest existing ancestor joined with the rest. */
async function realpathOfExisting(abs: string): Promise<string> {
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return join(await realpath(cur), ...tail.reverse());
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const parent = dirname(cur);
      if (parent === cur) return abs;
      tail.push(cur.slice(parent.length + (parent.endsWith(sep) ? 0 : 1)));
      cur = parent;
    }
  }
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } catch {
    // some file systems cannot fsync a folder; the rename is still atomic
  } finally {
    await fh.close();
  }
}
