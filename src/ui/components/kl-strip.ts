/**
 * KL(full ‖ quantized) at each token of one reference answer, as a strip of tokens shaded by their
 * share of the largest KL (the divergence map's heat scale): where quantization moves the prediction.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { heatColor, heatInk } from './heat-scale.ts';
import { showToken } from './token-strip.ts';

@customElement('retort-kl-strip')
export class KlStrip extends LitElement {
  static override styles = css`
    :host { display: block; }
    ol { display: flex; flex-wrap: wrap; gap: 3px; list-style: none; padding: 0; margin: 0.3rem 0; font: var(--font-mono); }
    li { padding: 2px 4px; border: 1px solid var(--border); border-radius: 4px; }
    .caption { font-size: 0.85rem; }
  `;

  /** The predicted tokens, decoded one by one. */
  @property({ attribute: false }) tokens: string[] = [];
  /** KL in nats at each token. */
  @property({ attribute: false }) kl: number[] = [];

  override render() {
    const max = Math.max(...this.kl, 1e-12);
    return html`<div class="caption">KL per token on the first problem's answer (darkest = ${max.toExponential(2)} nats)</div>
      <ol aria-label="KL per token">
        ${this.tokens.map((t, i) => {
          const x = this.kl[i] / max;
          return html`<li style=${`background:${heatColor(x)};color:${heatInk(x)}`} title=${`${this.kl[i].toExponential(2)} nats`}
            aria-label=${`${t}: ${this.kl[i].toExponential(2)} nats`}>${showToken(t)}</li>`;
        })}
      </ol>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-kl-strip': KlStrip;
  }
}
