import { describe, expect, it } from 'vitest';
import { heatColor, heatInk } from '../../src/ui/components/heat-scale.ts';

/** WCAG contrast ratio of two sRGB colors given as [r, g, b] 0‥255. */
function contrast(a: number[], b: number[]): number {
  const L = (c: number[]) => {
    const [r, g, bl] = c.map((v) => (v / 255 <= 0.03928 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * bl;
  };
  const [hi, lo] = [L(a), L(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}
const rgb = (css: string) => css.match(/\d+/g)!.map(Number);
const hex = (h: string) => (h === '#000' ? [0, 0, 0] : [255, 255, 255]);

describe('heat scale', () => {
  it('runs from the light end to the dark end through the middle stop', () => {
    expect(heatColor(0)).toBe('rgb(255 247 236)');
    expect(heatColor(0.5)).toBe('rgb(252 141 89)');
    expect(heatColor(1)).toBe('rgb(127 0 0)');
    expect(heatColor(-3)).toBe(heatColor(0)); // clamped
  });

  it('puts text on every cell at WCAG AA contrast (4.5:1) or better', () => {
    let worst = Infinity;
    for (let i = 0; i <= 100; i++) worst = Math.min(worst, contrast(rgb(heatColor(i / 100)), hex(heatInk(i / 100))));
    console.log(`worst text contrast on the heat scale: ${worst.toFixed(2)}:1`);
    expect(worst).toBeGreaterThanOrEqual(4.5);
  });
});
