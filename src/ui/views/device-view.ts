import { LitElement, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';

/** Device (being built: issue 6). */
@customElement('retort-device-view')
export class DeviceView extends LitElement {
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  override render() {
    return html`<h2>Device</h2>`;
  }
}
