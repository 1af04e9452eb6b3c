/**
 * A sequential color scale for the divergence heatmap (light cream → deep red, ColorBrewer OrRd's
 * ends) and a legend for it. Text on a cell takes black or white, whichever contrasts more.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';

const LOW = [255, 247, 236];
const MID = [252, 141, 89];
const HIGH = [127, 0, 0];

/** The color of `t` in 0‥1 as [r, g, b]. */
function rgbAt(t: number): number[] {
  const x = Math.min(1, Math.max(0, t));
  const [a, b, u] = x < 0.5 ? [LOW, MID, x * 2] : [MID, HIGH, x * 2 - 1];
  return a.map((c, i) => Math.round(c + (b[i] - c) * u));
}

export function heatColor(t: number): string {
  return `rgb(${rgbAt(t).join(' ')})`;
}

/** '#000' or '#fff' for text on the color of `t` (the WCAG relative luminance decides). */
export function heatInk(t: number): string {
  const lin = rgbAt(t).map((c) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  });
  const L = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  // Contrast with black is (L + 0.05) / 0.05, with white 1.05 / (L + 0.05): equal at L ≈ 0.179.
  return L > 0.179 ? '#000' : '#fff';
}

@customElement('retort-heat-legend')
export class HeatLegend extends LitElement {
  static override styles = css`
    :host { display: inline-flex; align-items: center; gap: var(--space-2); font-size: 0.85rem; }
    .bar { width: 12rem; height: 0.8rem; border: 1px solid var(--border); border-radius: 2px; }
    .ticks { display: flex; justify-content: space-between; width: 12rem; color: var(--muted); }
    .stack { display: grid; }
  `;

  /** The value at the dark end. */
  @property({ type: Number }) max = 1;
  /** What is measured, with units, e.g. "KL (nats)". */
  @property() label = '';

  override render() {
    const stops = Array.from({ length: 9 }, (_, i) => heatColor(i / 8)).join(', ');
    return html`<span>${this.label}</span>
      <span class="stack" role="img" aria-label=${`${this.label}: light is 0, dark is ${this.max.toFixed(2)} or more`}>
        <span class="bar" style="background: linear-gradient(to right, ${stops})"></span>
        <span class="ticks" aria-hidden="true"><span>0</span><span>${(this.max / 2).toFixed(2)}</span><span>${this.max.toFixed(2)}</span></span>
      </span>`;
  }
}
