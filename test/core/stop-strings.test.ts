import { describe, expect, it } from 'vitest';
import { firstStop, heldBack, nextPiece } from '../../src/core/stop-strings.ts';

/** Streams `chunks` (the decoded text growing one token at a time) the way a generator does. */
function stream(chunks: string[], stops: string[]): { out: string; stopped: boolean } {
  let text = '';
  let sent = 0;
  let out = '';
  for (let i = 0; i < chunks.length; i++) {
    text += chunks[i];
    const r = nextPiece(text, sent, stops, i === chunks.length - 1);
    out += r.piece;
    sent = r.sent;
    if (r.stopped) return { out, stopped: true };
  }
  return { out, stopped: false };
}

describe('stop strings', () => {
  it('finds the earliest stop string', () => {
    expect(firstStop('a</think>b\n\nc', ['\n\n', '</think>'])).toBe(1);
    expect(firstStop('abc', ['x'])).toBe(-1);
  });

  it('holds back a suffix that could still become a stop string', () => {
    expect(heldBack('answer: 4</th', ['</think>'])).toBe(4); // '</th'
    expect(heldBack('answer: 4<', ['</think>', '<|im_end|>'])).toBe(1);
    expect(heldBack('answer', ['</think>'])).toBe(0);
  });

  it('a stop string split across tokens never reaches the output', () => {
    expect(stream(['12', '+3', '</', 'thi', 'nk>', 'tail'], ['</think>'])).toEqual({ out: '12+3', stopped: true });
  });

  it('a held-back prefix that does not become a stop string is sent, and the end flushes', () => {
    expect(stream(['a<', '/b', '>c', '</'], ['</think>'])).toEqual({ out: 'a</b>c</', stopped: false });
  });
});
