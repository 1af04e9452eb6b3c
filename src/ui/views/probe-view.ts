import { LitElement, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';

/** Temperature & logits (being built: issue 6). */
@customElement('retort-probe-view')
export class ProbeView extends LitElement {
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  override render() {
    return html`<h2>Temperature & logits</h2>`;
  }
}
