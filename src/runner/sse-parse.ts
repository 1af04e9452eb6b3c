/**
 * Server-Sent Events read from a `fetch` body (EventSource cannot send an Authorization header).
 * Platform-neutral: works on any ReadableStream<Uint8Array>, in the browser and in Node.
 * Follows the WHATWG parsing rules: lines end in \n, \r\n or \r; `:` starts a comment; a blank line
 * dispatches; `data` lines join with \n; `id` persists until changed.
 */

export interface SseMessage {
  event: string; // 'message' when the stream names none
  data: string;
  id: string; // last id seen on the stream ('' before any)
}

export async function* parseSse(body: ReadableStream<Uint8Array>, signal?: AbortSignal): AsyncGenerator<SseMessage> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  let lastId = '';
  let ended = false;
  const onAbort = () => void reader.cancel().catch(() => {});
  signal?.addEventListener('abort', onAbort, { once: true });
  /** Handle every complete line in the buffer; at the end of the stream a trailing \r ends a line too. */
  function* lines(final: boolean): Generator<SseMessage> {
    let start = 0;
    for (;;) {
      const m = /\r\n|\r|\n/g;
      m.lastIndex = start;
      const hit = m.exec(buffer);
      // A trailing \r may be the first half of \r\n: keep it for the next chunk.
      if (!hit || (!final && hit[0] === '\r' && hit.index === buffer.length - 1)) break;
      const line = buffer.slice(start, hit.index);
      start = hit.index + hit[0].length;
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n'), id: lastId };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') data.push(value);
      else if (field === 'event') event = value;
      else if (field === 'id' && !value.includes('\0')) lastId = value;
    }
    buffer = buffer.slice(start);
  }
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        ended = true;
        buffer += decoder.decode();
        yield* lines(true);
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      yield* lines(false);
    }
  } finally {
    signal?.removeEventListener('abort', onAbort);
    // The consumer stopped early (break, return): close the connection rather than leak it.
    if (!ended) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
