/** FileSource over the local file system (Node). Paths are relative to `root` unless absolute. */
import { open, readFile, readdir, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { MissingFileError } from '../core/errors.ts';
import type { FileSource } from '../core/files.ts';

export class NodeFileSource implements FileSource {
  constructor(readonly root: string = process.cwd()) {}

  resolve(path: string): string {
    return isAbsolute(path) ? path : resolve(this.root, path);
  }

  private async guard<T>(path: string, read: (abs: string) => Promise<T>): Promise<T> {
    try {
      return await read(this.resolve(path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingFileError(path);
      throw e;
    }
  }

  readBytes(path: string): Promise<Uint8Array> {
    return this.guard(path, async (abs) => {
      const buf = await readFile(abs);
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
    });
  }

  readText(path: string): Promise<string> {
    return this.guard(path, (abs) => readFile(abs, 'utf8'));
  }

  async exists(path: string): Promise<boolean> {
    try {
      await stat(this.resolve(path));
      return true;
    } catch {
      return false;
    }
  }

  size(path: string): Promise<number> {
    return this.guard(path, async (abs) => (await stat(abs)).size);
  }

  list(dir: string): Promise<string[]> {
    return this.guard(dir, async (abs) => (await readdir(abs)).sort());
  }

  readRange(path: string, offset: number, length: number): Promise<Uint8Array> {
    return this.guard(path, async (abs) => {
      const fh = await open(abs, 'r');
      try {
        const out = new Uint8Array(length);
        let got = 0;
        // read() may return fewer bytes than asked; loop until the range or the file ends.
        while (got < length) {
          const { bytesRead } = await fh.read(out, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        return got === length ? out : out.subarray(0, got);
      } finally {
        await fh.close();
      }
    });
  }
}
