import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { distillCommand } from '../../src/cli/distill.ts';
import { demoSpecialIds, demoTokenizerFiles } from '../../src/core/demo/tokenizer-files.ts';
import { makeTiny } from './torch-worker.ts';

/** A tiny random model with the demo task's tokenizer (self-contained: no committed weights needed). */
export function tinyWithDemoTokenizer(seed: number): string {
  const dir = makeTiny('qwen2', seed, ['--vocab', String(demoSpecialIds().size), '--hidden', '32', '--layers', '2']);
  for (const [name, content] of Object.entries(demoTokenizerFiles())) {
    writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}

/** Runs `retort distill … --json`; returns its exit code and the events it printed. */
export async function distillJson<E>(argv: string[]): Promise<{ code: number; events: E[] }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => lines.push(a.join(' '));
  try {
    const code = await distillCommand([...argv, '--json']);
    return { code, events: lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as E) };
  } finally {
    console.log = log;
  }
}
