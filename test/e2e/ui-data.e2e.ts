/**
 * Data view against the production build: a demo split's sample shows the chat template with the
 * assistant tokens highlighted as trained, a short maxSeqLen marks truncation, and a local JSONL
 * whose traces carry teacher top-k log-probs reports their coverage (0.75 by construction).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Session } from './browser.ts';
import { expectNoConsoleErrors, openApp, panel, screenshot } from './ui-page.ts';
import { loadTokenizer } from '../../src/core/tokenizer.ts';
import { parseJsonl, tokenizeRecord } from '../../src/core/dataset.ts';
import { NodeFileSource } from '../../src/node/files.ts';

describe('data view', () => {
  let s: Session;
  beforeAll(async () => {
    s = await openApp('?view=data');
  });
  afterAll(async () => s?.close());

  it('highlights the loss mask, marks truncation and reports teacher top-k coverage', async () => {
    const p = panel(s);
    const sample = p.getByLabel(/^sample 0: \d+ tokens, \d+ trained/);
    await sample.waitFor();
    const [, total, trained] = /(\d+) tokens, (\d+) trained/.exec((await sample.getAttribute('aria-label'))!)!.map(Number);
    const text = await sample.textContent();
    console.log(`val.jsonl sample 0: ${total} tokens, ${trained} trained`);
    expect(text).toContain('<|im_start|>');
    // Only the assistant turn is trained: the user's question is not, the answer is.
    expect(trained).toBeGreaterThan(0);
    expect(trained).toBeLessThan(total);
    expect(await sample.locator('span.trained').count()).toBe(trained);
    expect(await sample.locator('span.trained').allTextContents().then((t) => t.join(''))).toContain('boxed');
    await screenshot(s, 'ui-data');

    await p.getByLabel('maxSeqLen (tokens)').fill('16');
    await p.getByLabel('maxSeqLen (tokens)').press('Tab');
    await p.getByText(/✂ \d+ tokens cut/).waitFor();
    expect(await p.getByText(/examples longer than 16 tokens/).textContent()).toMatch(/^[1-9]\d* of 200/);

    // A local file with cached teacher top-k: p = 0.5 and 0.25 on every trained token → coverage 0.75.
    const src = new NodeFileSource('public');
    const tok = await loadTokenizer(src, 'models/demo-student');
    const record = { prompt: 'Compute 2+2.', completion: '\\boxed{4}' };
    const [rec] = parseJsonl(JSON.stringify(record), 'x.jsonl');
    const n = tokenizeRecord(rec, tok, { file: 'x.jsonl', maxSeqLen: 512, useChatTemplate: true }).lossMask.reduce((a, b) => a + b, 0);
    const line = { ...record, teacher_topk: Array.from({ length: n }, () => ({ ids: [5, 6], logprobs: [Math.log(0.5), Math.log(0.25)] })) };
    const file = join(mkdtempSync(join(tmpdir(), 'retort-data-')), 'topk.jsonl');
    writeFileSync(file, JSON.stringify(line) + '\n');
    await p.getByLabel('maxSeqLen (tokens)').fill('512');
    await p.getByLabel('maxSeqLen (tokens)').press('Tab');
    await p.getByLabel('Local JSONL file', { exact: true }).setInputFiles(file);
    await p.getByText(/mean 0\.750 of the teacher's mass/).waitFor();
    await screenshot(s, 'ui-data-topk');
    expectNoConsoleErrors(s);
  });
});
