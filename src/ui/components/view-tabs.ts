/**
 * The view tabs: the WAI-ARIA tabs pattern (one tab in the tab order; arrow keys, Home and End move
 * between tabs and select them). The panel lives in the shell's shadow root, which ids cannot reach
 * from here, so the shell labels it with the tab's text instead of aria-controls. Fires `retort-navigate` like any view does, so the shell has one
 * way to switch views.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { ViewEntry } from '../views/registry.ts';
import { navigateEvent } from '../url-state.ts';

@customElement('retort-view-tabs')
export class ViewTabs extends LitElement {
  static override styles = css`
    [role='tablist'] { display: flex; flex-wrap: wrap; gap: 2px; border-bottom: 1px solid var(--border); }
    button {
      font: inherit; border: 1px solid transparent; border-bottom: none; background: none; color: var(--muted);
      padding: 0.45rem 0.9rem; border-radius: 6px 6px 0 0; cursor: pointer; margin-bottom: -1px;
    }
    button[aria-selected='true'] { color: var(--text); background: var(--surface); border-color: var(--border); font-weight: 600; }
    button:hover { color: var(--text); }
    button:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
  `;

  /** Tabs in order. */
  @property({ attribute: false }) views: ViewEntry[] = [];
  /** The selected view's id. */
  @property() selected = '';

  override render() {
    return html`<div role="tablist" aria-label="Views" @keydown=${this.onKey}>
      ${this.views.map(
        (v) => html`<button role="tab" id="tab-${v.id}" aria-selected=${v.id === this.selected}
          tabindex=${v.id === this.selected ? 0 : -1} @click=${() => this.select(v.id)}>${v.label}</button>`,
      )}
    </div>`;
  }

  private select(id: string): void {
    this.dispatchEvent(navigateEvent({ view: id }));
  }

  private async onKey(e: KeyboardEvent): Promise<void> {
    const i = this.views.findIndex((v) => v.id === this.selected);
    const n = this.views.length;
    const next = { ArrowRight: (i + 1) % n, ArrowLeft: (i - 1 + n) % n, Home: 0, End: n - 1 }[e.key];
    if (next === undefined) return;
    e.preventDefault();
    this.select(this.views[next].id);
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>(`#tab-${this.views[next].id}`)?.focus();
  }
}
