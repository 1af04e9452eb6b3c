/** The advanced-recipe example configs pass the JobSpec schema (the same JSON the tab and the runner take). */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJobSpec } from '../../src/core/schema/index.ts';

const files = readdirSync('examples').filter((f) => /^demo-(gkd|attention|selective|progressive|cross-tokenizer).*\.json$/.test(f));

describe('recipe examples', () => {
  it('are all there', () => expect(files.length).toBe(6));
  it.each(files)('%s is a valid distill JobSpec', (file) => {
    const spec = parseJobSpec(JSON.parse(readFileSync(`examples/${file}`, 'utf8')), `examples/${file}`);
    expect(spec.kind).toBe('distill');
  });
});
