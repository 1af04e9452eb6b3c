import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession } from '../../core/session.ts';
import { readCheckpoint, saveBlob, withTokenizer } from './checkpoint-files.ts';
import { tarFolder } from './tar.ts';
import { formatBytes } from './format.ts';
import type { RunRecord } from './run-model.ts';
import { loadCheckpointFiles } from './run-store.ts';

/**
 * A run's checkpoints, each with a download of the Hugging Face folder (.tar). Files come from
 * IndexedDB when the tab kept them (this tab's runs, also after a reload), else from the session.
 */
@customElement('retort-checkpoint-list')
export class CheckpointList extends LitElement {
  static override styles = css`
    :host { display: block; }
    table { border-collapse: collapse; font-size: 0.9rem; }
    th, td { text-align: left; padding: 0.15rem 0.8rem 0.15rem 0; }
    .error { color: var(--error, #b00020); }
    .muted { color: var(--muted, #555a64); }
  `;

  @property({ attribute: false }) run: RunRecord | null = null;
  /** Changes whenever the (mutated in place) run gains events. */
  @property({ type: Number }) revision = -1;
  /** The session that ran the job (used when the files are not in IndexedDB). */
  @property({ attribute: false }) session: DistillSession | null = null;
  @state() private busy = -1;
  @state() private error = '';

  override render() {
    const cps = this.run?.checkpoints ?? [];
    if (!cps.length) return html`<p class="muted">No checkpoints yet.</p>`;
    return html`<table>
        <thead><tr><th scope="col">step</th><th scope="col">size</th><th scope="col">saved</th><th scope="col"><span class="muted">Hugging Face folder</span></th></tr></thead>
        <tbody>
          ${cps.map(
            (c) => html`<tr>
              <td>${c.step}</td>
              <td>${c.bytes ? formatBytes(c.bytes) : '–'}</td>
              <td>${new Date(c.time).toLocaleTimeString()}</td>
              <td><button @click=${() => this.download(c.step)} ?disabled=${this.busy === c.step} aria-label=${`download checkpoint step ${c.step}`}>
                ${this.busy === c.step ? 'preparing…' : 'download .tar'}</button></td>
            </tr>`,
          )}
        </tbody>
      </table>
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}`;
  }

  private async download(step: number): Promise<void> {
    const run = this.run!;
    this.busy = step;
    this.error = '';
    try {
      let files = await loadCheckpointFiles(run.id, step);
      if (files.size === 0) {
        if (!this.session) throw new Error('the files of this checkpoint were not kept and no session can provide them');
        files = await readCheckpoint(this.session, run.job, step);
      }
      const studentPath = run.spec.kind === 'distill' ? run.spec.student.path : '';
      if (run.mode === 'local' && studentPath) files = await withTokenizer(files, studentPath);
      saveBlob(tarFolder(`${run.job}-step-${step}`, files), `${run.job}-step-${step}.tar`);
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.busy = -1;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-checkpoint-list': CheckpointList;
  }
}
