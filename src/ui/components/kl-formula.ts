/**
 * The numbers behind the bars: each model's entropy, KL(p_t^T ‖ p_s^T) written out with the first
 * terms plugged in, and the T²·KL the distillation loss actually uses.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { controls } from '../theme.ts';
import type { KlTerm } from './paired-rows.ts';
import { showToken } from './token-strip.ts';

const SHOWN_TERMS = 3;

/** A probability short enough for a formula: 0.998, 0.0450, 3.2e-5. */
const p = (x: number) => (x >= 0.01 ? x.toFixed(3) : x.toExponential(1));
/** A signed term for `a + b − c` chains. */
const signed = (x: number, digits = 4) => (x < 0 ? `− ${(-x).toFixed(digits)}` : `+ ${x.toFixed(digits)}`);

@customElement('retort-kl-formula')
export class KlFormula extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      dl { display: grid; grid-template-columns: max-content 1fr; gap: var(--space-1) var(--space-3); margin: 0 0 var(--space-3); }
      dt { color: var(--muted); }
      dd { margin: 0; font: var(--font-mono); font-size: 1rem; }
      .formula { font: var(--font-mono); line-height: 1.8; overflow-wrap: anywhere; }
      var { font-style: italic; }
    `,
  ];

  /** Temperature the numbers are at. */
  @property({ type: Number }) temperature = 1;
  @property({ type: Number }) teacherEntropy = 0;
  @property({ type: Number }) studentEntropy = 0;
  /** KL(p_t^T ‖ p_s^T) over the whole vocabulary (nats). */
  @property({ type: Number }) kl = 0;
  /** Terms of the KL for the listed tokens, largest first. */
  @property({ attribute: false }) terms: KlTerm[] = [];

  override render() {
    const T = this.temperature;
    const shown = this.terms.slice(0, SHOWN_TERMS);
    const rest = this.kl - shown.reduce((s, t) => s + t.value, 0);
    return html`
      <dl aria-label="Numbers at this temperature">
        <dt>Temperature</dt><dd><output aria-label="temperature">T = ${T.toFixed(2)}</output></dd>
        <dt class="teacher">Teacher entropy</dt><dd><output aria-label="teacher entropy">${this.teacherEntropy.toFixed(3)} nats</output></dd>
        <dt class="student">Student entropy</dt><dd><output aria-label="student entropy">${this.studentEntropy.toFixed(3)} nats</output></dd>
        <dt>KL(teacher ‖ student)</dt><dd><output aria-label="KL divergence">${this.kl.toFixed(4)} nats</output></dd>
        <dt>T² · KL (loss term)</dt><dd>${(T * T * this.kl).toFixed(4)}</dd>
      </dl>
      <p class="formula">
        <var>p</var><sub><var>i</var></sub> = exp(<var>z</var><sub><var>i</var></sub>/<var>T</var>) / Σ<sub><var>j</var></sub> exp(<var>z</var><sub><var>j</var></sub>/<var>T</var>)
        with <var>T</var> = ${T.toFixed(2)}, for both models.
      </p>
      <p class="formula">
        KL(<var>p</var><sub>t</sub> ‖ <var>p</var><sub>s</sub>) = Σ<sub><var>i</var></sub> <var>p</var><sub>t</sub>(<var>i</var>) · ln(<var>p</var><sub>t</sub>(<var>i</var>) / <var>p</var><sub>s</sub>(<var>i</var>))
        <br />=
        ${shown.map((t, i) => html`${i ? ' + ' : ''}<span title=${`token ${showToken(t.token)}: ${t.value.toFixed(4)}`}>${p(t.pt)}·ln(${p(t.pt)}/${p(t.ps)})</span>`)}
        <span title="the terms of every other token">${signed(rest)}</span> <span class="muted">(other tokens)</span>
        = <strong>${this.kl.toFixed(4)} nats</strong>
      </p>
    `;
  }
}
