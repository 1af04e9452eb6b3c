import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/core/schema/config-error.ts';
import {
  collectGeneration,
  GenerateRequestSchema,
  LoadRequestSchema,
  ProbeRequestSchema,
  type TokenEvent,
} from '../../src/core/session.ts';

describe('session requests', () => {
  it('fills probe and generate defaults', () => {
    expect(parseConfig(ProbeRequestSchema, { text: 'hi' }, 'probe')).toEqual({
      text: 'hi',
      chatTemplate: false,
      temperatures: [1],
      topK: 10,
    });
    expect(parseConfig(GenerateRequestSchema, { model: 'student', prompt: 'hi' }, 'generate').sampling).toEqual({
      temperature: 0.6,
      topP: 0.95,
      topK: 0,
      repetitionPenalty: 1,
      maxNewTokens: 512,
      stop: [],
    });
  });

  it('refuses ambiguous or empty requests with the request named', () => {
    expect(() => parseConfig(ProbeRequestSchema, { text: 'a', ids: [1] }, 'POST /v1/probe')).toThrow(
      'POST /v1/probe: give exactly one of text or ids',
    );
    expect(() => parseConfig(GenerateRequestSchema, { model: 'student' }, 'POST /v1/generate')).toThrow(
      'POST /v1/generate: give exactly one of prompt or ids',
    );
    expect(() => parseConfig(LoadRequestSchema, {}, 'POST /v1/load')).toThrow(
      'POST /v1/load: names no teacher, student or adapter',
    );
    expect(() => parseConfig(ProbeRequestSchema, { ids: [1], temperatures: [0] }, 'probe')).toThrow(
      'probe: temperatures.0: must be > 0',
    );
  });

  it('collects a token stream', async () => {
    async function* stream(): AsyncIterable<TokenEvent> {
      yield { id: 5, text: 'Hel', done: false };
      yield { id: 9, text: 'lo', done: false };
      yield { id: -1, text: '', done: true, stats: { promptTokens: 3, newTokens: 2, tokensPerS: 10, finishReason: 'stop' } };
    }
    expect(await collectGeneration(stream())).toEqual({
      text: 'Hello',
      ids: [5, 9],
      stats: { promptTokens: 3, newTokens: 2, tokensPerS: 10, finishReason: 'stop' },
    });
  });
});
