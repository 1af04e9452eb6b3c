import { describe, expect, it } from 'vitest';
import { KD_VS_SFT_HEADING, kdVsSftSection, type KdVsSftReport, withKdVsSftSection } from '../../src/core/demo/model-card.ts';

const report: KdVsSftReport = {
  steps: 100, batch: 8, lr: 0.003, alpha: 0.7, temperature: 2, problems: 100, teacherAccuracy: 0.9, before: 0,
  rows: [
    { seed: 1, sft: { accuracy: 0.5, valCe: 0.4 }, kd: { accuracy: 0.7, valCe: 0.3 } },
    { seed: 2, sft: { accuracy: 0.6, valCe: 0.5 }, kd: { accuracy: 0.8, valCe: 0.2 } },
  ],
  command: 'retort demo-kd-vs-sft --steps 100',
};

describe('student card: KD against SFT', () => {
  it('tabulates every seed and the means (hand-computed), and says what the numbers mean', () => {
    const s = kdVsSftSection(report);
    expect(s).toContain('| 1 | 50.0% | 70.0% | 0.400 | 0.300 |');
    expect(s).toContain('| **mean** | **55.0%** | **75.0%** | **0.450** | **0.250** |');
    expect(s).toContain(`KD reaches ${(100 * 0.75 / 0.9).toFixed(1)}% of the teacher's exact match`);
    expect(s).toContain("KD's val CE is below SFT's (0.250 against 0.450");
    expect(s).not.toContain('below the 80%');
    expect(s).toContain('retort demo-kd-vs-sft --steps 100');
  });

  it('replaces its own section and keeps the rest of the card', () => {
    const card = `# Student\n\nintro\n\n${KD_VS_SFT_HEADING}\n\nold table\n\n## Task\n\ntask text\n`;
    const out = withKdVsSftSection(card, kdVsSftSection(report));
    expect(out).not.toContain('old table');
    expect(out.startsWith('# Student\n\nintro\n\n')).toBe(true);
    expect(out).toContain('\n## Task\n\ntask text\n');
    expect(out.split(KD_VS_SFT_HEADING)).toHaveLength(2);
    expect(withKdVsSftSection('# Student\n', 'SECTION\n')).toBe('# Student\n\nSECTION\n');
  });
});
