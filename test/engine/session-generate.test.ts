import { describe, expect, it } from 'vitest';
import { gpu } from '../helpers/gpu.ts';
import { NodeFileSource } from '../../src/node/files.ts';
import { EngineSession } from '../../src/engine/session/local-session.ts';
import type { TokenEvent } from '../../src/core/session.ts';

async function drain(events: AsyncIterable<TokenEvent>): Promise<TokenEvent[]> {
  const all: TokenEvent[] = [];
  for await (const e of events) all.push(e);
  return all;
}

describe('EngineSession.generate streams the DistillSession contract', () => {
  it('greedy demo teacher: stats, eos, and a stop string that never reaches the output', async () => {
    const session = new EngineSession(await gpu(), new NodeFileSource());
    await session.load({ teacher: { path: 'public/models/demo-teacher' } });
    const prompt = 'What is 47+36?';
    const full = await drain(session.generate({ model: 'teacher', prompt, sampling: { temperature: 0, maxNewTokens: 80 } }));
    const text = full.map((e) => e.text).join('');
    const last = full.at(-1)!;
    console.log(`greedy: ${JSON.stringify(text)} (${last.stats?.newTokens} tokens, ${last.stats?.tokensPerS.toFixed(1)} tokens/s)`);
    expect(text).toContain('\\boxed{83}');
    expect(full.filter((e) => e.done)).toHaveLength(1);
    expect(last.stats).toMatchObject({ newTokens: full.length, finishReason: 'eos' });
    expect(last.stats!.promptTokens).toBeGreaterThan(5);

    // '+1=' appears inside the trace; the output must end right before its first occurrence.
    const stop = '+1=';
    const cut = text.indexOf(stop);
    expect(cut).toBeGreaterThan(0);
    const stopped = await drain(session.generate({ model: 'teacher', prompt, sampling: { temperature: 0, maxNewTokens: 80, stop: [stop] } }));
    expect(stopped.map((e) => e.text).join('')).toBe(text.slice(0, cut));
    expect(stopped.at(-1)!.stats).toMatchObject({ finishReason: 'stop' });

    const short = await drain(session.generate({ model: 'teacher', prompt, sampling: { temperature: 0, maxNewTokens: 3 } }));
    expect(short.at(-1)!.stats).toMatchObject({ newTokens: 3, finishReason: 'length' });
  });
});
