/** The runner's worked example configs (examples/runner-*.json) pass the runner's own submit checks. */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseJobRequest } from '../../src/runner/routes-jobs.ts';
import { Workspace } from '../../src/runner/workspace.ts';
import { makeWorkspace } from './helpers.ts';

const files = readdirSync('examples').filter((f) => /^runner-.*\.json$/.test(f));

describe('runner examples', () => {
  it('exist: a teacher-generate job and a distill job', () => {
    const kinds = files.map((f) => (JSON.parse(readFileSync(`examples/${f}`, 'utf8')) as { kind: string }).kind);
    expect(kinds.sort()).toEqual(['distill', 'teacher-generate']);
  });
  it.each(files)('%s is a job the runner accepts (schema and workspace paths)', async (file) => {
    const ws = await Workspace.open(makeWorkspace());
    const { spec } = await parseJobRequest(JSON.parse(readFileSync(`examples/${file}`, 'utf8')), ws);
    expect(['teacher-generate', 'distill']).toContain(spec.kind);
  });
});
