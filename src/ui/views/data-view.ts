import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';
import { HttpFileSource } from '../../core/http-files.ts';
import { loadTokenizer, type Tokenizer } from '../../core/tokenizer.ts';
import type { Truncation } from '../../core/dataset.ts';
import { controls } from '../theme.ts';
import { getNumber, getParam, setParam } from '../url-state.ts';
import { histogram, inspectJsonl, positionCoverage, type Inspection } from '../components/dataset-inspect.ts';
import '../components/metric-chart.ts';

const SPLITS = ['data/arith/train.jsonl', 'data/arith/val.jsonl', 'data/arith/test.jsonl'];
const LIMIT = 400;
const LOCAL = 'local file';

/**
 * Data: a JSONL dataset as training sees it — the chat template applied, the tokens trained on
 * (loss mask) highlighted, truncation marked, sequence lengths, and the teacher's top-k coverage
 * when the traces carry log-probs. Tokenized on the page with the student's tokenizer.
 */
@customElement('retort-data-view')
export class DatasetView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      .bar { display: flex; flex-wrap: wrap; gap: 0.4rem 1rem; align-items: end; }
      .bar label { display: grid; font-size: 0.85rem; }
      .tokens { font: var(--font-mono); line-height: 1.9; border: 1px solid var(--border); border-radius: 6px; padding: 0.5rem; white-space: pre-wrap; overflow-wrap: anywhere; }
      .tokens span { border-radius: 3px; padding: 0 1px; margin-right: 1px; box-shadow: inset 0 0 0 1px var(--border); }
      .tokens .trained { background: #fde7d3; box-shadow: inset 0 0 0 1px var(--student); }
      .tokens .cut { color: #fff; background: var(--error); padding: 0 0.4rem; }
      .legend span { padding: 0 0.3rem; border-radius: 3px; }
      .legend .trained { background: #fde7d3; box-shadow: inset 0 0 0 1px var(--student); }
      dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.1rem 1rem; margin: 0.5rem 0; }
      dt { color: var(--muted); }
      dd { margin: 0; }
    `,
  ];

  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  @state() private file = getParam('data', 'file') ?? SPLITS[1];
  @state() private maxSeqLen = getNumber('data', 'maxSeqLen', 128);
  @state() private truncation: Truncation = (getParam('data', 'truncation') as Truncation | null) ?? 'right';
  @state() private index = getNumber('data', 'sample', 0);
  @state() private result: Inspection | null = null;
  @state() private busy = false;
  @state() private error = '';
  private localText: { name: string; text: string } | null = null;
  private tokenizer: Promise<Tokenizer> | null = null;
  private tokenizerNow: Tokenizer | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    if (this.file !== LOCAL) void this.inspect();
  }

  override render() {
    const r = this.result;
    return html`
      <div class="bar" role="group" aria-label="Dataset">
        <label>Dataset file<select aria-label="Dataset file" @change=${this.pickFile}>
          ${SPLITS.map((f) => html`<option ?selected=${f === this.file}>${f}</option>`)}
          <option ?selected=${this.file === LOCAL} value=${LOCAL}>${this.localText ? this.localText.name : 'a local JSONL file…'}</option>
        </select></label>
        <label>Local JSONL file<input type="file" aria-label="Local JSONL file" accept=".jsonl,.json,application/jsonl" @change=${this.pickLocal} /></label>
        <label>maxSeqLen (tokens)<input type="number" min="8" .value=${String(this.maxSeqLen)} @change=${(e: Event) => this.setOption('maxSeqLen', Number((e.target as HTMLInputElement).value))} /></label>
        <label>truncation<select @change=${(e: Event) => this.setOption('truncation', (e.target as HTMLSelectElement).value)}>
          ${['right', 'left', 'error'].map((t) => html`<option ?selected=${t === this.truncation}>${t}</option>`)}
        </select></label>
      </div>
      ${this.busy ? html`<p role="status">Tokenizing…</p>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${r ? this.renderResult(r) : nothing}
    `;
  }

  private renderResult(r: Inspection) {
    const n = r.examples.length;
    const i = Math.min(Math.max(0, this.index), n - 1);
    const lengths = histogram(r.lengths);
    const truncated = r.examples.filter((e) => e.truncatedTokens > 0).length;
    const trained = r.examples.reduce((s, e) => s + e.lossMask.reduce((a, b) => a + b, 0), 0);
    const tokens = r.examples.reduce((s, e) => s + e.ids.length, 0);
    const coverage = r.coverage.filter((c): c is number => c !== null);
    return html`
      <dl>
        <dt>lines</dt><dd>${r.lines} (first ${n} tokenized)</dd>
        <dt>tokens</dt><dd>mean ${(tokens / n).toFixed(1)}, longest ${Math.max(...r.lengths)} before truncation</dd>
        <dt>trained tokens</dt><dd>${((100 * trained) / tokens).toFixed(1)}% (assistant turns only)</dd>
        <dt>truncated</dt><dd>${truncated} of ${n} examples longer than ${this.maxSeqLen} tokens</dd>
        <dt>teacher top-k coverage</dt><dd>${coverage.length ? `mean ${(coverage.reduce((a, b) => a + b, 0) / coverage.length).toFixed(3)} of the teacher's mass on its cached top-k (min ${Math.min(...coverage).toFixed(3)})` : 'no teacher_topk log-probs in this file'}</dd>
      </dl>
      <retort-metric-chart caption="Sequence lengths (tokens, before truncation)" bars xLabel="tokens" .x=${lengths.starts} .markers=${[this.maxSeqLen]}
        .series=${[{ label: 'examples', color: '#4b2fb0', values: lengths.counts }]}></retort-metric-chart>
      <h3>Sample</h3>
      <div class="bar">
        <button @click=${() => this.setSample(i - 1)} ?disabled=${i === 0}>previous</button>
        <label>sample (line)<input type="number" min="0" max=${n - 1} .value=${String(i)} @change=${(e: Event) => this.setSample(Number((e.target as HTMLInputElement).value))} /></label>
        <button @click=${() => this.setSample(i + 1)} ?disabled=${i >= n - 1}>next</button>
        <span class="legend"><span class="trained">highlighted</span> = trained on (loss mask); hover a token for its id</span>
      </div>
      ${this.renderSample(r, i)}
    `;
  }

  private renderSample(r: Inspection, i: number) {
    const ex = r.examples[i];
    const cov = positionCoverage(ex);
    const tok = this.tokenizerNow!;
    const cut = html`<span class="cut" title="cut by truncation">✂ ${ex.truncatedTokens} tokens cut</span>`;
    // No whitespace inside .tokens (pre-wrap would show it). lossMask[t] = 1: token t is a target (predicted from t − 1); coverage sits on the predicting position.
    return html`<div class="tokens" aria-label=${`sample ${i}: ${ex.ids.length} tokens, ${ex.lossMask.reduce((a, b) => a + b, 0)} trained`}>${ex.truncatedTokens && this.truncation === 'left' ? cut : nothing}${Array.from(ex.ids, (id, t) => {
        const c = t > 0 ? cov[t - 1] : null;
        return html`<span class=${ex.lossMask[t] ? 'trained' : ''} title=${`id ${id}${ex.lossMask[t] ? ' · trained' : ''}${c !== null ? ` · teacher top-k mass ${c.toFixed(3)}` : ''}`}>${visible(tok.decodeToken(id))}</span>`;
      })}${ex.truncatedTokens && this.truncation !== 'left' ? cut : nothing}</div>`;
  }

  private async inspect(): Promise<void> {
    this.busy = true;
    this.error = '';
    try {
      const student = this.info?.models.find((m) => m.role === 'student')?.path ?? 'models/demo-student';
      const files = new HttpFileSource(new URL('./', document.baseURI).href);
      // In runner mode the student lives on the runner; the demo tokenizer is the one this page has.
      this.tokenizer ??= loadTokenizer(files, this.info?.mode === 'runner' ? 'models/demo-student' : student);
      this.tokenizerNow = await this.tokenizer;
      const { name, text } = this.file === LOCAL && this.localText ? this.localText : { name: this.file, text: await files.readText(this.file) };
      this.result = await inspectJsonl(text, this.tokenizerNow, { file: name, format: 'auto', maxSeqLen: this.maxSeqLen, truncation: this.truncation, limit: LIMIT });
    } catch (e) {
      this.result = null;
      this.error = (e as Error).message;
    } finally {
      this.busy = false;
    }
  }

  private pickFile(e: Event): void {
    this.file = (e.target as HTMLSelectElement).value;
    setParam('data', 'file', this.file);
    if (this.file !== LOCAL || this.localText) void this.inspect();
  }

  private async pickLocal(e: Event): Promise<void> {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (!f) return;
    this.localText = { name: f.name, text: await f.text() };
    this.file = LOCAL;
    this.index = 0;
    void this.inspect();
  }

  private setOption(key: 'maxSeqLen' | 'truncation', value: number | string): void {
    if (key === 'maxSeqLen') this.maxSeqLen = Number(value);
    else this.truncation = value as Truncation;
    setParam('data', key, value);
    void this.inspect();
  }

  private setSample(i: number): void {
    this.index = i;
    setParam('data', 'sample', i);
  }
}

/** Whitespace and control characters made visible inside token boxes. */
function visible(s: string): string {
  return s.replaceAll('\n', '⏎\n').replaceAll('\t', '⇥').replaceAll(' ', '·');
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-data-view': DatasetView;
  }
}
