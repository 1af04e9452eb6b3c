/**
 * A sequence of tokens as small buttons (one in the tab order; arrows move), optionally colored by
 * a value per token: the divergence heatmap and the logits view's position picker. Fires
 * `token-select` with the token's index.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';

/** How a token reads on screen: whitespace made visible, special tokens kept whole. */
export function showToken(t: string): string {
  return t.replace(/\n/g, '⏎').replace(/\t/g, '⇥').replace(/ /g, '␣') || '∅';
}

@customElement('retort-token-strip')
export class TokenStrip extends LitElement {
  static override styles = css`
    :host { display: block; }
    .strip { display: flex; flex-wrap: wrap; gap: 3px; font: var(--font-mono); }
    button {
      font: inherit; min-width: 1.6em; padding: 2px 4px; border: 1px solid var(--border); border-radius: 4px;
      background: var(--surface); color: var(--text); cursor: pointer;
    }
    button.dim { color: var(--muted); }
    button[aria-pressed='true'] { outline: 2px solid var(--accent); outline-offset: 1px; font-weight: 700; }
    button:focus-visible { outline: 3px solid var(--accent); outline-offset: 1px; }
  `;

  /** The tokens, decoded one by one. */
  @property({ attribute: false }) tokens: string[] = [];
  /** The selected token's index, or −1. */
  @property({ type: Number }) selected = -1;
  /** Background color per token (heatmap), or none. */
  @property({ attribute: false }) colors: (string | undefined)[] = [];
  /** Text color per token (dark or light, for contrast on `colors`). */
  @property({ attribute: false }) inks: (string | undefined)[] = [];
  /** The accessible description per token (e.g. "KL 0.42 nats"), appended to its name. */
  @property({ attribute: false }) notes: (string | undefined)[] = [];
  /** Tokens below this index cannot be selected (shown dimmed), e.g. the last token has no next one. */
  @property({ type: Number }) selectableUntil = Infinity;
  /** Names the group for assistive technology. */
  @property() label = 'Tokens';

  override render() {
    const focus = this.selected >= 0 ? this.selected : 0;
    return html`<div class="strip" role="group" aria-label=${this.label} @keydown=${this.onKey}>
      ${this.tokens.map((t, i) => {
        const off = i >= this.selectableUntil;
        return html`<button type="button" class=${off ? 'dim' : ''} ?disabled=${off} data-i=${i}
          tabindex=${i === focus ? 0 : -1} aria-pressed=${i === this.selected}
          aria-label=${`${i}: ${showToken(t)}${this.notes[i] ? `, ${this.notes[i]}` : ''}`} title=${this.notes[i] ?? ''}
          style=${this.colors[i] ? `background:${this.colors[i]};color:${this.inks[i] ?? 'inherit'}` : ''}
          @click=${() => this.select(i)}>${showToken(t)}</button>`;
      })}
    </div>`;
  }

  private select(i: number): void {
    this.dispatchEvent(new CustomEvent<number>('token-select', { detail: i, bubbles: true, composed: true }));
  }

  private onKey(e: KeyboardEvent): void {
    const last = Math.min(this.tokens.length, this.selectableUntil) - 1;
    const cur = Number((e.target as HTMLElement).dataset.i ?? this.selected);
    const next = { ArrowRight: cur + 1, ArrowLeft: cur - 1, Home: 0, End: last }[e.key];
    if (next === undefined || next < 0 || next > last) return;
    e.preventDefault();
    this.select(next);
    this.updateComplete.then(() => this.renderRoot.querySelector<HTMLElement>(`[data-i="${next}"]`)?.focus());
  }
}
