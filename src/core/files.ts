/**
 * How core code reads files without knowing where they live: a Node folder (src/node/files.ts),
 * a folder the user dropped into the browser, or an in-memory map in tests. Paths use `/`.
 */
import { FormatError, MissingFileError } from './errors.ts';

export interface FileSource {
  readBytes(path: string): Promise<Uint8Array>;
  readText(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** Names (not paths) of the entries directly inside `dir`. */
  list?(dir: string): Promise<string[]>;
  /** Size in bytes; with `readRange` it lets a reader check a big file without reading it whole. */
  size?(path: string): Promise<number>;
  /** Up to `length` bytes from `offset`; shorter only at the end of the file. */
  readRange?(path: string, offset: number, length: number): Promise<Uint8Array>;
}

/** `a/b` + `c` → `a/b/c`; an empty dir means the source's root. */
export function joinPath(dir: string, name: string): string {
  if (dir === '' || dir === '.') return name;
  return dir.endsWith('/') ? dir + name : `${dir}/${name}`;
}

export function dirName(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** Drops `./`, empty segments and resolves `..` so map keys compare equal; leading `/` is kept. */
export function normalizePath(path: string): string {
  const absolute = path.startsWith('/');
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..' && out.length > 0 && out[out.length - 1] !== '..') out.pop();
    else out.push(part);
  }
  return (absolute ? '/' : '') + out.join('/');
}

/** Reads `length` bytes at `offset`, ranged when the source can, otherwise by slicing the whole file. */
export async function readRangeOf(src: FileSource, path: string, offset: number, length: number): Promise<Uint8Array> {
  if (src.readRange) return src.readRange(path, offset, length);
  const all = await src.readBytes(path);
  return all.subarray(offset, offset + length);
}

/** Parses a JSON file; a syntax error names the file. */
export async function readJson(src: FileSource, path: string): Promise<unknown> {
  const text = await src.readText(path);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new FormatError({ file: path }, `not valid JSON: ${(e as Error).message}`);
  }
}

const utf8 = new TextEncoder();

/** In-memory files: tests, and folders uploaded in the browser (`File.arrayBuffer()` per entry). */
export class MapFileSource implements FileSource {
  private readonly files = new Map<string, Uint8Array>();

  constructor(files: Iterable<[string, Uint8Array | string]> | Record<string, Uint8Array | string> = {}) {
    const entries = Symbol.iterator in files ? files : Object.entries(files);
    for (const [path, content] of entries as Iterable<[string, Uint8Array | string]>) this.set(path, content);
  }

  set(path: string, content: Uint8Array | string): this {
    this.files.set(normalizePath(path), typeof content === 'string' ? utf8.encode(content) : content);
    return this;
  }

  paths(): string[] {
    return [...this.files.keys()].sort();
  }

  private get(path: string): Uint8Array {
    const bytes = this.files.get(normalizePath(path));
    if (!bytes) throw new MissingFileError(path);
    return bytes;
  }

  async readBytes(path: string): Promise<Uint8Array> {
    return this.get(path);
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(this.get(path));
  }

  async exists(path: string): Promise<boolean> {
    return this.files.has(normalizePath(path));
  }

  async size(path: string): Promise<number> {
    return this.get(path).byteLength;
  }

  async readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.get(path).subarray(offset, offset + length);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = normalizePath(dir);
    const names = new Set<string>();
    for (const path of this.files.keys()) {
      const rest = prefix === '' ? path : path.startsWith(prefix + '/') ? path.slice(prefix.length + 1) : null;
      if (rest !== null) names.add(rest.split('/')[0]);
    }
    return [...names].sort();
  }
}
