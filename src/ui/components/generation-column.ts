import { LitElement, css, html, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { checkAnswer, splitThink } from '../../core/answers.ts';
import { controls } from '../theme.ts';

/** What one column shows: the text streamed so far and how fast it came. */
export interface GenerationState {
  text: string;
  tokens: number;
  done: boolean;
  /** Decode throughput, tokens/s (from the first token to the last). */
  tokensPerS: number | null;
  error: string;
}

export const emptyGeneration = (): GenerationState => ({ text: '', tokens: 0, done: false, tokensPerS: null, error: '' });

/**
 * One model's output: the reasoning inside `<think>…</think>` folded (open it to read), the answer
 * below, a correctness badge when the prompt has a reference answer, and tokens/s.
 */
@customElement('retort-generation-column')
export class GenerationColumn extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; border: 1px solid var(--border, #d6d9de); border-top: 4px solid var(--column-color, var(--border)); border-radius: 6px; padding: 0.5rem 0.7rem; min-width: 0; }
      h3 { margin: 0 0 0.3rem; font-size: 1rem; }
      pre { white-space: pre-wrap; overflow-wrap: anywhere; font: var(--font-mono, 13px/1.4 monospace); margin: 0.3rem 0; }
      details { background: var(--surface-alt, #f4f5f7); border-radius: 4px; padding: 0.2rem 0.5rem; }
      .badge { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 999px; font-size: 0.85rem; font-weight: 600; color: #fff; }
      .ok { background: var(--ok, #1e7b34); }
      .bad { background: var(--error, #b00020); }
      .meta { font-size: 0.85rem; }
    `,
  ];

  @property() label = '';
  @property({ attribute: false }) state: GenerationState = emptyGeneration();
  /** The demo problem's answer, when the prompt is one (enables the badge). */
  @property() reference: string | null = null;
  /** Changes on every streamed token (the state object is updated in place). */
  @property({ type: Number }) revision = 0;

  override render() {
    const s = this.state;
    const { think, answer } = splitOpenThink(s.text);
    const verdict = s.done && this.reference !== null ? checkAnswer(s.text, this.reference) : null;
    return html`<section aria-label=${`${this.label} output`}>
      <h3>${this.label}</h3>
      <div class="meta" aria-live="polite">
        ${s.tokens} tokens${s.tokensPerS !== null ? html` · <span>${s.tokensPerS.toFixed(1)} tokens/s</span>` : nothing}
        ${s.done ? ' · done' : s.tokens ? ' · streaming…' : ''}
        ${verdict
          ? html` <span class="badge ${verdict.correct ? 'ok' : 'bad'}">${verdict.correct ? '✓ correct' : `✗ ${verdict.extracted === null ? 'no answer' : 'wrong'} (expected ${this.reference})`}</span>`
          : nothing}
      </div>
      ${think !== null ? html`<details><summary>thinking (${think.length} characters)</summary><pre>${think}</pre></details>` : nothing}
      <pre class="answer">${answer}</pre>
      ${s.error ? html`<p class="error" role="alert">${s.error}</p>` : nothing}
    </section>`;
  }
}

/** Like splitThink, but a `<think>` still open (mid-stream) folds what came after it too. */
function splitOpenThink(text: string): { think: string | null; answer: string } {
  const open = text.indexOf('<think>');
  if (open >= 0 && !text.includes('</think>')) return { think: text.slice(open + '<think>'.length), answer: '' };
  return splitThink(text);
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-generation-column': GenerationColumn;
  }
}
