/**
 * Tokenizers of model folders, built once per runner while their files are unchanged (building one
 * takes a second or more). Keyed by the files' identity (device, inode, size, mtime), so the same
 * files reached through several folders (hard links) are built once.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeFileSource } from '../node/files.ts';
import { FormatError } from '../core/errors.ts';
import { loadTokenizer, type Tokenizer } from '../core/tokenizer.ts';

const tokenizers = new Map<string, Promise<Tokenizer>>();

export async function tokenizerOf(src: NodeFileSource, modelDir: string): Promise<Tokenizer> {
  const identity = async (name: string) => {
    const s = await stat(src.resolve(join(modelDir, name))).catch(() => null);
    return s && `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  };
  const main = await identity('tokenizer.json');
  if (!main) throw new FormatError({ file: join(modelDir, 'tokenizer.json') }, 'missing: the runner tokenizes text with the model folder’s tokenizer');
  const key = [main, await identity('tokenizer_config.json'), await identity('generation_config.json')].join('|');
  let tok = tokenizers.get(key);
  if (!tok) {
    tok = loadTokenizer(src, modelDir);
    tokenizers.set(key, tok);
    tok.catch(() => tokenizers.delete(key));
  }
  return tok;
}
