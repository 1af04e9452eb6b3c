/**
 * Server-Sent Events out of a fastify reply. The reply is hijacked (fastify stops managing it), so
 * the headers other hooks set (CORS) are copied over by hand. A client that reads slower than we
 * write is cut off once `maxBufferedBytes` pile up: it reconnects with Last-Event-ID and replays
 * from the store, so memory stays bounded and nothing is lost.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

export interface SseOptions {
  heartbeatMs?: number; // comment line that keeps proxies and idle timers from closing the stream
  maxBufferedBytes?: number;
}

export class SseStream {
  private closed = false;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closeHandlers: (() => void)[] = [];
  private readonly maxBuffered: number;

  constructor(request: FastifyRequest, private readonly reply: FastifyReply, opts: SseOptions = {}) {
    this.maxBuffered = opts.maxBufferedBytes ?? 8 * 2 ** 20;
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no', // nginx: do not buffer the stream
    });
    raw.flushHeaders();
    this.heartbeat = setInterval(() => this.write(': ping\n\n'), opts.heartbeatMs ?? 15_000);
    this.heartbeat.unref();
    const onClose = () => this.finish();
    request.raw.on('close', onClose);
    raw.on('close', onClose);
    raw.on('error', onClose);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** One message; `data` is JSON-encoded (so it holds no newline). False once the stream is gone. */
  send(data: unknown, opts: { id?: string | number; event?: string } = {}): boolean {
    let msg = '';
    if (opts.event) msg += `event: ${opts.event}\n`;
    if (opts.id !== undefined) msg += `id: ${opts.id}\n`;
    msg += `data: ${JSON.stringify(data)}\n\n`;
    return this.write(msg);
  }

  /** A data line that is not JSON (OpenAI's closing `[DONE]`). */
  sendText(text: string): boolean {
    return this.write(`data: ${text}\n\n`);
  }

  onClose(handler: () => void): void {
    if (this.closed) handler();
    else this.closeHandlers.push(handler);
  }

  /** End the stream normally. */
  end(): void {
    if (this.closed) return;
    this.reply.raw.end();
    this.finish();
  }

  private write(text: string): boolean {
    if (this.closed) return false;
    const raw = this.reply.raw;
    if (raw.writableLength > this.maxBuffered) {
      // Too slow a reader: drop the connection; it resumes from Last-Event-ID.
      raw.destroy();
      this.finish();
      return false;
    }
    raw.write(text);
    return true;
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    for (const h of this.closeHandlers.splice(0)) h();
  }
}

/** Where a stream resumes: the Last-Event-ID header wins over a `since` query parameter. */
export function resumePoint(request: FastifyRequest, since: string | undefined): number | null {
  const header = request.headers['last-event-id'];
  const text = (Array.isArray(header) ? header[0] : header) ?? since;
  if (text === undefined || text === '') return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= -1 ? n : NaN;
}
