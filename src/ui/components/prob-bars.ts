/**
 * Paired horizontal bars: per token the teacher's probability (blue) over the student's (orange),
 * and the tail beyond the listed tokens as a grey row. A table, so screen readers get the numbers.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { controls } from '../theme.ts';
import { formatProb } from './format.ts';
import type { PairedRows } from './paired-rows.ts';
import { showToken } from './token-strip.ts';

@customElement('retort-prob-bars')
export class ProbBars extends LitElement {
  static override styles = [controls, css`
    :host { display: block; }
    table { width: 100%; border-collapse: collapse; font-size: 0.9rem; }
    caption { text-align: left; color: var(--muted); padding-bottom: var(--space-1); }
    th, td { padding: 2px var(--space-2) 2px 0; text-align: left; vertical-align: middle; }
    th[scope='row'] { font: var(--font-mono); white-space: nowrap; width: 6rem; }
    td.bar { width: 100%; }
    .track { position: relative; height: 11px; margin: 2px 0; }
    .fill { position: absolute; inset: 0 auto 0 0; border-radius: 2px; min-width: 1px; transition: width 120ms ease-out; }
    .t .fill { background: var(--teacher); }
    .s .fill { background: var(--student); }
    tr.tail .fill { opacity: 0.55; }
    tr.tail th { font: inherit; color: var(--muted); }
    td.num { font: var(--font-mono); white-space: nowrap; text-align: right; width: 5rem; }
    .next { color: var(--ok); font-weight: 700; }
  `];

  /** The rows to draw (see pairRows). */
  @property({ attribute: false }) pairs: PairedRows = { rows: [], tail: { teacher: 0, student: 0 }, floor: { teacher: 0, student: 0 } };
  /** The token that actually comes next in the sequence, marked ✓. */
  @property({ type: Number }) nextId = -1;
  /** Size of the vocabulary, to say how many tokens the tail holds. */
  @property({ type: Number }) vocab = 0;

  override render() {
    const { rows, tail } = this.pairs;
    return html`<table>
      <caption>Next-token probabilities: <span class="teacher">teacher (top bar)</span>, <span class="student">student (bottom bar)</span></caption>
      <thead><tr><th scope="col">Token</th><th scope="col">Probability</th><th scope="col" class="num">Teacher</th><th scope="col" class="num">Student</th></tr></thead>
      <tbody>
        ${rows.map((r) => this.row(html`${showToken(r.token)}${r.id === this.nextId ? html` <span class="next" title="the actual next token">✓</span>` : ''}`, r.teacher, r.student))}
        ${this.row(`other ${this.vocab ? this.vocab - rows.length : ''} tokens`, tail.teacher, tail.student, 'tail')}
      </tbody>
    </table>`;
  }

  /** A row; an undefined probability is outside that model's reported top-k, so below its floor. */
  private row(label: unknown, t: number | undefined, s: number | undefined, cls = '') {
    const bar = (p: number | undefined, which: string) => html`<div class="track ${which}"><div class="fill" style="width:${((p ?? 0) * 100).toFixed(2)}%"></div></div>`;
    return html`<tr class=${cls}>
      <th scope="row">${label}</th>
      <td class="bar" aria-hidden="true">${bar(t, 't')}${bar(s, 's')}</td>
      <td class="num teacher">${t === undefined ? `< ${formatProb(this.pairs.floor.teacher)}` : formatProb(t)}</td>
      <td class="num student">${s === undefined ? `< ${formatProb(this.pairs.floor.student)}` : formatProb(s)}</td>
    </tr>`;
  }
}
