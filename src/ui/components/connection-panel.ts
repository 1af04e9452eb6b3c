/**
 * Where work runs and what is loaded: the mode switch (this browser's WebGPU or a runner URL +
 * token), the loaded teacher and student, loading progress, and errors at the place they happen.
 * In local mode a model folder from this computer can be picked or dropped in as teacher or student.
 * It only reports choices (`connect`, `load-folder` events); the shell's SessionController acts.
 */
import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { controls } from '../theme.ts';
import type { ModelInfo, ModelRole, SessionInfo } from '../../core/session.ts';
import type { LoadStatus, Mode, RunnerSettings } from './session-controller.ts';
import { formatCount } from './format.ts';

@customElement('retort-connection-panel')
export class ConnectionPanel extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      .panel { display: grid; gap: var(--space-2); margin-top: 0; }
      fieldset { border: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: var(--space-3); align-items: center; }
      legend { font-weight: 600; float: left; margin-right: var(--space-3); padding: 0; }
      form { display: flex; flex-wrap: wrap; gap: var(--space-2); align-items: end; }
      label.field { display: grid; font-size: 0.85rem; color: var(--muted); }
      label.field input { width: 18rem; padding: 0.3rem 0.4rem; border: 1px solid var(--border); border-radius: 4px; color: var(--text); }
      .models { display: flex; flex-wrap: wrap; gap: var(--space-3); }
      .model { flex: 1 1 18rem; border: 1px dashed transparent; border-radius: 6px; padding: var(--space-1) var(--space-2); }
      .model.drop { border-color: var(--accent); background: var(--surface-alt); }
      .model strong { font-weight: 600; }
      progress { width: 12rem; vertical-align: middle; margin-right: var(--space-2); }
      .nogpu { border-left: 4px solid var(--error); padding-left: var(--space-3); }
      .nogpu p { margin: var(--space-1) 0; }
      p { margin: 0; }
    `,
  ];

  /** The current mode. */
  @property({ attribute: false }) mode: Mode = 'local';
  /** The remembered runner URL and token (prefills the form). */
  @property({ attribute: false }) runner: RunnerSettings = { url: '', token: '' };
  /** The session's info once connected. */
  @property({ attribute: false }) info: SessionInfo | null = null;
  /** Loading progress and errors. */
  @property({ attribute: false }) status: LoadStatus = { phase: 'idle', message: '' };
  @state() private dropTarget: ModelRole | null = null;

  override render() {
    return html`<section class="panel" aria-label="Where work runs">
      <fieldset>
        <legend>Run on</legend>
        ${this.radio('local', 'This browser (WebGPU)')} ${this.radio('runner', 'Runner')}
        ${this.info ? html`<span class="muted">${this.info.device}</span>` : nothing}
      </fieldset>
      ${this.mode === 'runner' ? this.renderRunnerForm() : nothing}
      ${this.renderStatus()}
      ${this.info ? html`<div class="models">${(['teacher', 'student'] as const).map((r) => this.renderModel(r))}</div>` : nothing}
    </section>`;
  }

  private radio(mode: Mode, label: string) {
    return html`<label><input type="radio" name="mode" .checked=${this.mode === mode} @change=${() => this.pick(mode)} /> ${label}</label>`;
  }

  private renderRunnerForm() {
    return html`<form @submit=${this.submitRunner} aria-label="Runner">
      <label class="field">Runner URL <input name="url" type="url" required .value=${this.runner.url} /></label>
      <label class="field">Token <input name="token" type="password" autocomplete="off" .value=${this.runner.token} /></label>
      <button class="primary" type="submit">Connect</button>
    </form>`;
  }

  private renderStatus() {
    const s = this.status;
    switch (s.phase) {
      case 'connecting':
      case 'loading':
        return html`<p role="status"><progress aria-label="Loading" max=${s.steps ?? nothing} value=${s.step ?? nothing}></progress>${s.message}</p>`;
      case 'error':
        return html`<p class="error" role="alert">${s.message}</p>`;
      case 'no-webgpu':
        return html`<div class="nogpu" role="alert">
          <p><strong>WebGPU is not available here.</strong> ${s.message}</p>
          <p>Use a recent Chrome or Edge (113+) on a desktop GPU; on Linux start Chrome with
            <code>--enable-unsafe-webgpu --enable-features=Vulkan</code>; in Firefox Nightly or Safari Technology Preview
            turn WebGPU on in the experimental settings.</p>
          <p>Or choose <em>Runner</em> above to run on a machine with PyTorch (<code>retort runner</code>).</p>
        </div>`;
      default:
        return nothing;
    }
  }

  private renderModel(role: ModelRole) {
    const m = this.info?.models.find((x) => x.role === role);
    const local = this.mode === 'local';
    return html`<div class="model ${this.dropTarget === role ? 'drop' : ''}"
        @dragover=${(e: DragEvent) => local && this.dragOver(e, role)} @dragleave=${() => (this.dropTarget = null)}
        @drop=${(e: DragEvent) => local && this.drop(e, role)}>
      <strong class=${role}>${role === 'teacher' ? 'Teacher' : 'Student'}</strong>
      ${m ? describe(m) : html`<span class="muted">none loaded</span>`}
      ${local
        ? html`<button type="button" @click=${() => this.pickFolder(role)}>Load folder…</button>
            <input type="file" id="pick-${role}" hidden webkitdirectory multiple aria-label="Model folder for the ${role}"
              @change=${(e: Event) => this.picked(e, role)} />`
        : nothing}
    </div>`;
  }

  private pick(mode: Mode): void {
    this.mode = mode;
    if (mode === 'local') this.emit('connect', { mode, runner: this.runner });
  }

  private submitRunner(e: SubmitEvent): void {
    e.preventDefault();
    const data = new FormData(e.target as HTMLFormElement);
    const runner = { url: String(data.get('url')).trim(), token: String(data.get('token') ?? '') };
    this.runner = runner;
    this.emit('connect', { mode: 'runner', runner });
  }

  private pickFolder(role: ModelRole): void {
    this.renderRoot.querySelector<HTMLInputElement>(`#pick-${role}`)?.click();
  }

  private picked(e: Event, role: ModelRole): void {
    const input = e.target as HTMLInputElement;
    if (input.files?.length) this.emit('load-folder', { role, files: [...input.files] });
    input.value = '';
  }

  private dragOver(e: DragEvent, role: ModelRole): void {
    e.preventDefault();
    this.dropTarget = role;
  }

  private async drop(e: DragEvent, role: ModelRole): Promise<void> {
    e.preventDefault();
    this.dropTarget = null;
    const files = await droppedFiles(e.dataTransfer);
    if (files.length) this.emit('load-folder', { role, files });
  }

  private emit<T>(name: string, detail: T): void {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }
}

function describe(m: ModelInfo) {
  return html`<span>${m.name}</span> <span class="muted">· ${m.architecture} · ${formatCount(m.params)} params ·
    ${m.layers} layers × ${m.hidden} · vocab ${m.vocab} · ${m.dtype}${m.adapter ? ` · adapter ${m.adapter}` : ''}</span>`;
}

/**
 * The files of a dropped folder (or of dropped files), each with its path inside the folder in
 * `webkitRelativePath` style, read through the File System entries API.
 */
async function droppedFiles(dt: DataTransfer | null): Promise<File[]> {
  if (!dt) return [];
  const entries = [...dt.items].map((i) => i.webkitGetAsEntry()).filter((x): x is FileSystemEntry => x !== null);
  const out: File[] = [];
  const walk = async (entry: FileSystemEntry, prefix: string): Promise<void> => {
    if (entry.isFile) {
      const file = await new Promise<File>((res, rej) => (entry as FileSystemFileEntry).file(res, rej));
      out.push(new File([file], prefix + file.name, { type: file.type }));
    } else if (entry.isDirectory) {
      const reader = (entry as FileSystemDirectoryEntry).createReader();
      // readEntries answers in batches; an empty batch means the end.
      for (;;) {
        const batch = await new Promise<FileSystemEntry[]>((res, rej) => reader.readEntries(res, rej));
        if (!batch.length) break;
        for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
      }
    }
  };
  for (const entry of entries) await walk(entry, '');
  return out;
}
