import { LitElement, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';

/** Divergence map (being built: issue 6). */
@customElement('retort-divergence-view')
export class DivergenceView extends LitElement {
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  override render() {
    return html`<h2>Divergence map</h2>`;
  }
}
