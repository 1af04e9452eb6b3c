import { LitElement, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';

/** Lessons (being built: issue 6). */
@customElement('retort-lessons-view')
export class LessonsView extends LitElement {
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  override render() {
    return html`<h2>Lessons</h2>`;
  }
}
