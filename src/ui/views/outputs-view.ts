import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, query, state } from 'lit/decorators.js';
import type { DistillSession, SamplingParams, SessionInfo } from '../../core/session.ts';
import { extractBoxed } from '../../core/answers.ts';
import { controls } from '../theme.ts';
import { getNumber, getParam, setParam } from '../url-state.ts';
import { demoProblems, type DemoProblem } from '../components/demo-problems.ts';
import { emptyGeneration, type GenerationState } from '../components/generation-column.ts';
import type { QuantColumn } from '../components/quant-column.ts';
import '../components/generation-column.ts';
import '../components/quant-column.ts';

/** A model whose output gets a column: `model` is what GenerateRequest.model takes. */
export interface OutputColumn {
  model: string;
  label: string;
  color: string;
}

/** Columns side by side, streamed through the session; the quantized student follows them (quant-column.ts). */
export const OUTPUT_COLUMNS: OutputColumn[] = [
  { model: 'teacher', label: 'Teacher', color: 'var(--teacher)' },
  { model: 'student', label: 'Student', color: 'var(--student)' },
];

const SAMPLING = [
  { key: 'temperature', label: 'temperature', step: 0.1, fallback: 0 },
  { key: 'topP', label: 'top-p', step: 0.05, fallback: 1 },
  { key: 'topK', label: 'top-k', step: 1, fallback: 0 },
  { key: 'maxNewTokens', label: 'max tokens', step: 1, fallback: 64 },
  { key: 'seed', label: 'seed', step: 1, fallback: 1 },
] as const;

/**
 * Outputs: one prompt, every model's generation streamed token by token side by side, reasoning
 * folded, a correctness badge on the demo's problems. Settings live in the URL (`outputs.*`).
 */
@customElement('retort-outputs-view')
export class OutputsView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      form { display: grid; gap: 0.5rem; }
      textarea { width: 100%; box-sizing: border-box; min-height: 3.5rem; font: var(--font-mono); }
      .sampling { display: flex; flex-wrap: wrap; gap: 0.4rem 1rem; align-items: end; }
      .sampling label { display: grid; font-size: 0.85rem; }
      .sampling input { width: 6rem; }
      .columns { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 0.8rem; margin-top: 1rem; align-items: start; }
      @media (max-width: 50rem) { .columns { grid-template-columns: 1fr; } }
    `,
  ];

  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  @state() private prompt = getParam('outputs', 'prompt') ?? '';
  @state() private problems: DemoProblem[] = [];
  @state() private running = false;
  @state() private error = '';
  private outputs = new Map<string, GenerationState>();
  @query('retort-quant-column') private quantColumn!: QuantColumn;
  private revision = 0;
  private stopRequested = false;

  override connectedCallback(): void {
    super.connectedCallback();
    demoProblems().then(
      (p) => {
        this.problems = p;
        if (!this.prompt && p.length) this.prompt = p[0].question;
      },
      (e: Error) => (this.error = e.message),
    );
  }

  override render() {
    const reference = this.reference();
    return html`
      <form @submit=${this.generate}>
        <label for="problem">Demo problem</label>
        <select id="problem" @change=${this.pickProblem}>
          <option value="">(your own prompt)</option>
          ${this.problems.map((p, i) => html`<option value=${i} ?selected=${p.question === this.prompt}>${p.question}</option>`)}
        </select>
        <label for="prompt">Prompt</label>
        <textarea id="prompt" .value=${this.prompt} @input=${(e: Event) => this.setPrompt((e.target as HTMLTextAreaElement).value)}></textarea>
        <div class="sampling" role="group" aria-label="Sampling">
          ${SAMPLING.map(
            (f) => html`<label>${f.label}<input type="number" name=${f.key} step=${f.step} min="0" .value=${String(getNumber('outputs', f.key, f.fallback))}
              @change=${(e: Event) => setParam('outputs', f.key, (e.target as HTMLInputElement).value)} /></label>`,
          )}
          <button class="primary" type="submit" ?disabled=${this.running}>Generate</button>
          <button type="button" ?disabled=${!this.running} @click=${() => (this.stopRequested = true)}>Stop</button>
        </div>
      </form>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <div class="columns">
        ${OUTPUT_COLUMNS.map(
          (c) => html`<retort-generation-column style=${`--column-color:${c.color}`} label=${c.label} .state=${this.outputs.get(c.model) ?? emptyGeneration()}
            .reference=${reference} .revision=${this.revision}></retort-generation-column>`,
        )}
        <retort-quant-column .reference=${reference}></retort-quant-column>
      </div>
    `;
  }

  /** The reference answer when the prompt is one of the demo's problems. */
  private reference(): string | null {
    const p = this.problems.find((q) => q.question === this.prompt.trim());
    return p ? extractBoxed(p.text) : null;
  }

  private setPrompt(text: string): void {
    this.prompt = text;
    setParam('outputs', 'prompt', text);
  }

  private pickProblem(e: Event): void {
    const i = (e.target as HTMLSelectElement).value;
    if (i !== '') this.setPrompt(this.problems[Number(i)].question);
  }

  private sampling(): Partial<SamplingParams> {
    const n = (key: string, fallback: number) => getNumber('outputs', key, fallback);
    return { temperature: n('temperature', 0), topP: n('topP', 1), topK: n('topK', 0), maxNewTokens: n('maxNewTokens', 64), seed: n('seed', 1) };
  }

  private async generate(e: Event): Promise<void> {
    e.preventDefault();
    this.running = true;
    this.stopRequested = false;
    this.error = '';
    const sampling = this.sampling();
    this.outputs = new Map(OUTPUT_COLUMNS.map((c) => [c.model, emptyGeneration()]));
    // Every column streams at once; each token updates its column in place.
    await Promise.all([
      ...OUTPUT_COLUMNS.map((c) => this.stream(c.model, this.outputs.get(c.model)!, sampling)),
      this.quantColumn.generate(this.prompt, sampling.maxNewTokens ?? 64, () => this.stopRequested),
    ]);
    this.running = false;
  }

  private async stream(model: string, out: GenerationState, sampling: Partial<SamplingParams>): Promise<void> {
    let first = 0;
    try {
      for await (const t of this.session.generate({ model, prompt: this.prompt, sampling })) {
        const now = performance.now();
        if (t.id >= 0) {
          if (out.tokens === 0) first = now;
          out.tokens++;
          if (out.tokens > 1) out.tokensPerS = (out.tokens - 1) / ((now - first) / 1000);
        }
        out.text += t.text;
        out.done = t.done;
        this.bump();
        if (t.done || this.stopRequested) break;
      }
    } catch (err) {
      out.error = (err as Error).message;
    }
    out.done = true;
    this.bump();
  }

  private bump(): void {
    this.revision++;
    this.requestUpdate();
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-outputs-view': OutputsView;
  }
}
