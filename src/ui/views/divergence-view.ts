import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, ProbeResult, SessionInfo } from '../../core/session.ts';
import { controls } from '../theme.ts';
import { getParam, navigateEvent, setParam } from '../url-state.ts';
import { heatColor, heatInk } from '../components/heat-scale.ts';
import { LatestOnly } from '../components/latest-only.ts';
import type { PromptChange } from '../components/prompt-picker.ts';
import '../components/heat-scale.ts';
import '../components/prompt-picker.ts';
import '../components/token-strip.ts';

type Metric = 'kl' | 'ce';
const METRICS: Record<Metric, { label: string; unit: string; about: string }> = {
  kl: { label: 'KL(teacher ‖ student)', unit: 'KL (nats)', about: 'how far the student’s whole next-token distribution is from the teacher’s' },
  ce: { label: 'Cross-entropy', unit: 'CE (nats)', about: 'the student’s surprise at the token that actually comes next: −ln p_s(token)' },
};

/**
 * Divergence map: teacher-forced over a whole sequence, each token colored by how badly the student
 * predicted it (KL to the teacher, or cross-entropy against the token itself, at T = 1). Clicking a
 * token opens the distributions that predicted it in the Temperature & logits view.
 * URL: divergence.p / divergence.text (prompt), divergence.metric.
 */
@customElement('retort-divergence-view')
export class DivergenceView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      .bar { display: flex; flex-wrap: wrap; gap: var(--space-3); align-items: center; justify-content: space-between; }
      fieldset { border: none; margin: 0; padding: 0; display: flex; gap: var(--space-3); }
      legend { float: left; margin-right: var(--space-2); padding: 0; }
      dl { display: flex; flex-wrap: wrap; gap: var(--space-1) var(--space-4); margin: var(--space-3) 0 0; }
      dt { color: var(--muted); } dd { margin: 0 0 0 var(--space-1); font: var(--font-mono); }
      dl div { display: flex; align-items: baseline; }
      retort-token-strip { margin-top: var(--space-3); font-size: 1.05rem; }
    `,
  ];

  /** Where probes run. */
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;
  @state() private result: ProbeResult | null = null;
  @state() private metric: Metric = getParam('divergence', 'metric') === 'ce' ? 'ce' : 'kl';
  @state() private error = '';
  private readonly probes = new LatestOnly<string>((text) => this.runProbe(text));

  override render() {
    const r = this.result;
    const m = METRICS[this.metric];
    // values[i] scores token i (predicted from tokens 0..i−1); the first token has no score.
    const values = r ? [NaN, ...r.perToken[this.metric]] : [];
    const max = Math.max(1e-6, ...values.filter(Number.isFinite));
    const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
    return html`
      <div class="panel">
        <retort-prompt-picker view="divergence" @prompt-change=${(e: CustomEvent<PromptChange>) => this.probes.request(e.detail.text)}></retort-prompt-picker>
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${r
        ? html`<section class="panel" aria-labelledby="map-h">
            <div class="bar">
              <h2 id="map-h" style="margin:0;font-size:1.1rem">Per-token ${m.label}, teacher-forced at T = 1</h2>
              <fieldset>
                <legend>Color by</legend>
                ${(['kl', 'ce'] as const).map((k) => html`<label><input type="radio" name="metric" .checked=${this.metric === k} @change=${() => this.setMetric(k)} /> ${METRICS[k].label}</label>`)}
              </fieldset>
            </div>
            <p class="muted">Each token is colored by ${m.about}, when predicting it from the tokens before it. Click a token to see those distributions.</p>
            <retort-heat-legend .max=${max} label=${m.unit}></retort-heat-legend>
            <retort-token-strip label="Tokens colored by ${m.label}" .tokens=${r.tokens}
              .colors=${values.map((v) => (Number.isFinite(v) ? heatColor(v / max) : undefined))}
              .inks=${values.map((v) => (Number.isFinite(v) ? heatInk(v / max) : undefined))}
              .notes=${values.map((v) => (Number.isFinite(v) ? `${this.metric.toUpperCase()} ${v.toFixed(3)} nats` : 'first token, not predicted'))}
              @token-select=${this.open}></retort-token-strip>
            <dl>
              <div><dt>Mean KL</dt><dd>${mean(r.perToken.kl).toFixed(4)} nats</dd></div>
              <div><dt>Mean CE</dt><dd>${mean(r.perToken.ce).toFixed(4)} nats</dd></div>
              <div><dt>Tokens scored</dt><dd>${r.perToken.kl.length}</dd></div>
            </dl>
          </section>`
        : !this.error ? html`<p role="status" class="muted">Running the teacher and student over the sequence…</p>` : nothing}
    `;
  }

  private setMetric(metric: Metric): void {
    this.metric = metric;
    setParam('divergence', 'metric', metric);
  }

  /** Token i was predicted at position i − 1: open that position's distributions. */
  private open(e: CustomEvent<number>): void {
    const i = e.detail;
    if (i < 1) return;
    const params = { p: getParam('divergence', 'p') ?? '', text: getParam('divergence', 'text') ?? '', pos: i - 1, t: 1 };
    this.dispatchEvent(navigateEvent({ view: 'probe', params }));
  }

  private async runProbe(text: string): Promise<void> {
    try {
      this.result = await this.session.probe({ text, temperatures: [1], topK: 1 });
      this.error = '';
    } catch (e) {
      this.error = `Probe failed: ${(e as Error).message}`;
    }
  }
}
