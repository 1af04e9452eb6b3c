import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, ProbePosition, ProbeResult, SessionInfo } from '../../core/session.ts';
import { controls } from '../theme.ts';
import { getNumber, setParam } from '../url-state.ts';
import { defaultPosition } from '../components/demo-problems.ts';
import { LatestOnly } from '../components/latest-only.ts';
import { resoften } from '../components/resoften.ts';
import { klTerms, pairRows, sliderAt, temperatureAt } from '../components/paired-rows.ts';
import { showToken } from '../components/token-strip.ts';
import type { PromptChange } from '../components/prompt-picker.ts';
import '../components/prompt-picker.ts';
import '../components/token-strip.ts';
import '../components/prob-bars.ts';
import '../components/kl-formula.ts';

/** Entries asked of each model: more than the rows shown, so a row's other-model probability is known. */
const TOP_K = 100;
const ROWS = 6;
const SLIDER_STEPS = 400;

interface Query {
  text: string;
  T: number;
  pos: number | null; // null: the default position for these tokens
}

/**
 * Temperature & logits: the teacher's and student's next-token distributions at one position of
 * a prompt, re-softened by a log-scale temperature slider, with entropies and KL(p_t^T ‖ p_s^T)
 * worked out. A slider move re-softens the last probe on the page at once (an estimate: see
 * resoften.ts) and probes at the new T; the exact numbers replace the estimate when they arrive.
 * URL: probe.p / probe.text (prompt), probe.pos (position), probe.t (temperature).
 */
@customElement('retort-probe-view')
export class ProbeView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      .controls { display: grid; gap: var(--space-3); }
      .slider { display: flex; align-items: center; gap: var(--space-3); flex-wrap: wrap; }
      .slider input { flex: 1; min-width: 14rem; accent-color: var(--accent); }
      .scale { display: flex; justify-content: space-between; font-size: 0.8rem; color: var(--muted); flex: 1; }
      .cols { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: var(--space-4); align-items: start; }
      @media (max-width: 50rem) { .cols { grid-template-columns: 1fr; } }
      h2 { font-size: 1.1rem; margin: 0 0 var(--space-2); }
      /* Not opacity: faded text would fail contrast while a probe runs. */
      .busy { border-top-color: var(--accent); box-shadow: inset 0 3px 0 -1px var(--accent); }
    `,
  ];

  /** Where probes run. */
  @property({ attribute: false }) session!: DistillSession;
  /** Loaded models (for the vocabulary size). */
  @property({ attribute: false }) info: SessionInfo | null = null;
  @state() private result: ProbeResult | null = null;
  @state() private temperature = Math.min(10, Math.max(0.1, getNumber('probe', 't', 1)));
  @state() private error = '';
  @state() private busy = false;
  /** The last probe re-softened to the slider's T, until the probe at that T is back. */
  @state() private estimate: ProbePosition | null = null;
  private text = '';
  private position: number | null = this.urlPosition();
  private readonly probes = new LatestOnly<Query>((q) => this.runProbe(q));

  override render() {
    const r = this.result;
    const at = this.estimate ?? r?.positions[0];
    const T = this.estimate ? this.temperature : r?.temperatures[0] ?? this.temperature;
    const pairs = at ? pairRows(at.teacher[0], at.student[0], ROWS) : null;
    return html`
      <div class="controls panel">
        <retort-prompt-picker view="probe" @prompt-change=${this.onPrompt}></retort-prompt-picker>
        ${r
          ? html`<div>
              <p id="pos-h">Position: click the token whose <em>next</em> token to predict (arrow keys move).</p>
              <retort-token-strip label="Position" .tokens=${r.tokens} .selected=${at?.position ?? -1}
                .selectableUntil=${r.tokens.length} @token-select=${this.onPosition}></retort-token-strip>
            </div>`
          : nothing}
        <div class="slider">
          <label for="t">Temperature</label>
          <div style="flex:1;display:grid">
            <input id="t" type="range" min="0" max=${SLIDER_STEPS} step="1" .value=${String(Math.round(sliderAt(this.temperature) * SLIDER_STEPS))}
              aria-valuetext=${`T = ${this.temperature.toFixed(2)}`} @input=${this.onSlider} />
            <div class="scale" aria-hidden="true"><span>0.1</span><span>1</span><span>10</span></div>
          </div>
          <output for="t" aria-live="off">T = ${this.temperature.toFixed(2)}</output>
        </div>
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${at && pairs
        ? html`<div class="cols panel ${this.busy ? 'busy' : ''}" aria-busy=${this.busy}>
            <section aria-labelledby="bars-h">
              <h2 id="bars-h">After “${showToken(r!.tokens[at.position])}” (position ${at.position})${at.next ? html`, actually followed by “${showToken(at.next.token)}”` : nothing}</h2>
              <retort-prob-bars .pairs=${pairs} .nextId=${at.next?.id ?? -1} .vocab=${this.info?.models.find((m) => m.role === 'student')?.vocab ?? 0}></retort-prob-bars>
            </section>
            <section aria-labelledby="kl-h">
              <h2 id="kl-h">Softened by T</h2>
              ${this.estimate ? html`<p class="muted">≈ estimated from the probe at T = ${r!.temperatures[0].toFixed(2)}; exact numbers follow.</p>` : nothing}
              <retort-kl-formula .temperature=${T} .teacherEntropy=${at.teacher[0].entropy}
                .studentEntropy=${at.student[0].entropy} .kl=${at.kl[0]} .terms=${klTerms(pairs.rows)}></retort-kl-formula>
            </section>
          </div>`
        : !this.error ? html`<p role="status" class="muted">Probing the teacher and student…</p>` : nothing}
    `;
  }

  private onPrompt(e: CustomEvent<PromptChange>): void {
    if (this.text && e.detail.text !== this.text) this.position = null; // a new prompt: its own default position
    this.estimate = null;
    this.text = e.detail.text;
    this.probe();
  }

  private onPosition(e: CustomEvent<number>): void {
    this.estimate = null;
    this.position = e.detail;
    setParam('probe', 'pos', e.detail);
    this.probe();
  }

  private onSlider(e: Event): void {
    const T = temperatureAt(Number((e.target as HTMLInputElement).value) / SLIDER_STEPS);
    this.temperature = Math.round(T * 100) / 100 || 0.1;
    setParam('probe', 't', this.temperature);
    const vocab = this.info?.models.find((m) => m.role === 'student')?.vocab;
    const last = this.result;
    if (last && vocab) this.estimate = resoften(last.positions[0], last.temperatures[0], this.temperature, vocab, TOP_K);
    this.probe();
  }

  private probe(): void {
    if (this.text) this.probes.request({ text: this.text, T: this.temperature, pos: this.position });
  }

  private async runProbe(q: Query): Promise<void> {
    this.busy = true;
    try {
      const ask = (positions?: number[]) => this.session.probe({ text: q.text, positions, temperatures: [q.T], topK: TOP_K });
      // A position from the URL may not exist in this prompt: fall back to the default one.
      let r = await (q.pos === null ? ask() : ask([q.pos]).catch(() => ((q.pos = null), ask())));
      if (q.pos === null) {
        this.position = defaultPosition(r.tokens);
        if (this.position !== r.positions[0].position) r = await ask([this.position]);
      }
      this.result = r;
      if (q.T === this.temperature) this.estimate = null;
      this.error = '';
    } catch (e) {
      this.error = `Probe failed: ${(e as Error).message}`;
    } finally {
      this.busy = false;
    }
  }

  private urlPosition(): number | null {
    const p = getNumber('probe', 'pos', NaN);
    return Number.isInteger(p) && p >= 0 ? p : null;
  }
}
