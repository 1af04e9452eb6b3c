import { MissingFileError } from './errors.ts';
import type { FileSource } from './files.ts';

/**
 * Files served over HTTP (the playground's embedded demo under public/, or a runner's checkpoint
 * files): `fetch` relative to a base URL. Works in pages and workers; no hub is ever contacted.
 */
export class HttpFileSource implements FileSource {
  constructor(readonly base: string, private readonly init: RequestInit = {}) {}

  private url(path: string): string {
    return new URL(path.replace(/^\.?\//, ''), this.base.endsWith('/') ? this.base : this.base + '/').href;
  }

  private async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const res = await fetch(this.url(path), { ...this.init, headers: { ...(this.init.headers as Record<string, string>), ...headers } });
    if (res.status === 404) throw new MissingFileError(path);
    if (!res.ok && res.status !== 206) throw new Error(`${this.url(path)}: HTTP ${res.status}`);
    return res;
  }

  async readBytes(path: string): Promise<Uint8Array> {
    return new Uint8Array(await (await this.get(path)).arrayBuffer());
  }

  async readText(path: string): Promise<string> {
    return (await this.get(path)).text();
  }

  async exists(path: string): Promise<boolean> {
    const res = await fetch(this.url(path), { ...this.init, method: 'HEAD' });
    // Dev servers answer unknown paths with index.html: a JSON/binary file is never text/html.
    return res.ok && !(res.headers.get('content-type') ?? '').includes('text/html');
  }
}
