/**
 * Choose what to probe: one of the demo problems (the full worked conversation) or your own text.
 * Keeps its choice in the URL under the owning view's name, and fires `prompt-change` with the text.
 */
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { controls } from '../theme.ts';
import { getNumber, getParam, setParam } from '../url-state.ts';
import { demoProblems, type DemoProblem } from './demo-problems.ts';

export interface PromptChange {
  text: string;
}

@customElement('retort-prompt-picker')
export class PromptPicker extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      .row { display: flex; flex-wrap: wrap; gap: var(--space-2); align-items: center; }
      select { max-width: 28rem; padding: 0.25rem; }
      textarea { width: 100%; box-sizing: border-box; min-height: 4.5rem; margin-top: var(--space-2); font: var(--font-mono); padding: var(--space-2); }
    `,
  ];

  /** The view whose URL settings hold the choice (`<view>.p` = demo index, `<view>.text` = own text). */
  @property() view = '';
  @state() private problems: DemoProblem[] = [];
  @state() private own: string | null = null;
  @state() private index = 0;
  @state() private error = '';

  override connectedCallback(): void {
    super.connectedCallback();
    this.own = getParam(this.view, 'text');
    this.index = getNumber(this.view, 'p', 0);
    demoProblems().then(
      (p) => {
        this.problems = p;
        this.index = Math.min(Math.max(0, Math.trunc(this.index)), p.length - 1);
        this.emit();
      },
      (e: Error) => {
        this.error = `Demo problems could not be loaded (${e.message}); type your own text.`;
        this.own ??= '';
        this.emit();
      },
    );
  }

  override render() {
    const ownMode = this.own !== null;
    return html`
      <div class="row">
        <label for="prompt">Prompt</label>
        <select id="prompt" @change=${this.onSelect}>
          ${this.problems.map((p, i) => html`<option value=${i} ?selected=${!ownMode && i === this.index}>Problem ${i + 1}: ${p.question}</option>`)}
          <option value="own" ?selected=${ownMode}>Your own text…</option>
        </select>
        ${ownMode ? html`<button type="button" @click=${this.emit}>Probe</button>` : nothing}
      </div>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${ownMode
        ? html`<textarea aria-label="Text to probe" .value=${this.own ?? ''} @input=${this.onText}
            @keydown=${(e: KeyboardEvent) => e.key === 'Enter' && (e.ctrlKey || e.metaKey) && this.emit()}></textarea>`
        : nothing}
    `;
  }

  private onSelect(e: Event): void {
    const value = (e.target as HTMLSelectElement).value;
    if (value === 'own') {
      this.own = this.problems[this.index]?.text ?? '';
    } else {
      this.own = null;
      this.index = Number(value);
    }
    this.emit();
  }

  private onText(e: Event): void {
    this.own = (e.target as HTMLTextAreaElement).value;
  }

  private emit(): void {
    setParam(this.view, 'p', this.own === null ? this.index : null);
    setParam(this.view, 'text', this.own);
    const text = this.own ?? this.problems[this.index]?.text ?? '';
    if (text) this.dispatchEvent(new CustomEvent<PromptChange>('prompt-change', { detail: { text } }));
  }
}
