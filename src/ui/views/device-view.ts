import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';
import { controls } from '../theme.ts';
import { formatBytes, formatCount } from '../components/format.ts';

/** Limits worth seeing first; the rest stay in a disclosure. */
const KEY_LIMITS = ['maxBufferSize', 'maxStorageBufferBindingSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'memoryBytes', 'gpuCount'];
const MEMORY = [
  ['gpuInUseBytes', 'In use now'],
  ['gpuPeakInUseBytes', 'Peak in use'],
  ['gpuAllocatedBytes', 'Held by the engine (in use + pooled for reuse)'],
  ['memoryBytes', 'Device memory'],
] as const;
const REFRESH_MS = 2000;

/** Bytes-valued limits read as sizes; counts as counts. */
const showLimit = (name: string, v: number) => (/Size$|Bytes$/.test(name) ? formatBytes(v) : v.toLocaleString('en-US'));

/**
 * Device: where work runs — the adapter (or the runner's GPUs), its limits and features, the GPU
 * memory the engine holds (refreshed while this view is open), and the models loaded on it.
 */
@customElement('retort-device-view')
export class DeviceView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      h2 { font-size: 1.1rem; margin: 0 0 var(--space-2); }
      table { border-collapse: collapse; }
      th, td { text-align: left; padding: 0.15rem var(--space-4) 0.15rem 0; vertical-align: top; }
      th[scope='row'] { font-weight: normal; color: var(--muted); }
      td { font: var(--font-mono); }
      ul.features { display: flex; flex-wrap: wrap; gap: var(--space-2); list-style: none; padding: 0; margin: 0; }
      ul.features li { border: 1px solid var(--border); border-radius: 999px; padding: 0 var(--space-2); font: var(--font-mono); }
      .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(20rem, 1fr)); gap: 0 var(--space-3); }
    `,
  ];

  /** Asked for fresh info (memory changes as jobs run). */
  @property({ attribute: false }) session!: DistillSession;
  /** The shell's info, shown until the first refresh. */
  @property({ attribute: false }) info: SessionInfo | null = null;
  @state() private fresh: SessionInfo | null = null;
  @state() private error = '';
  private timer: ReturnType<typeof setInterval> | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    clearInterval(this.timer);
  }

  override render() {
    const info = this.fresh ?? this.info;
    if (!info) return html`<p role="status">Asking the device…</p>`;
    const limits = Object.entries(info.limits);
    const memory = MEMORY.filter(([k]) => k in info.limits);
    return html`
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <div class="grid">
        <section class="panel" aria-labelledby="adapter-h">
          <h2 id="adapter-h">${info.mode === 'local' ? 'WebGPU adapter' : 'Runner'}</h2>
          <table>
            <tr><th scope="row">Device</th><td>${info.device}</td></tr>
            <tr><th scope="row">Runs jobs</th><td>${info.jobs.join(', ') || 'none'}</td></tr>
            <tr><th scope="row">Version</th><td>${info.version}</td></tr>
          </table>
        </section>
        <section class="panel" aria-labelledby="memory-h">
          <h2 id="memory-h">GPU memory</h2>
          ${memory.length
            ? html`<table>${memory.map(([k, label]) => html`<tr><th scope="row">${label}</th><td>${formatBytes(info.limits[k])}</td></tr>`)}</table>`
            : html`<p class="muted">This device does not report its memory.</p>`}
        </section>
      </div>
      <section class="panel" aria-labelledby="features-h">
        <h2 id="features-h">Features</h2>
        ${info.features.length ? html`<ul class="features">${info.features.map((f) => html`<li>${f}</li>`)}</ul>` : html`<p class="muted">none beyond the core</p>`}
      </section>
      <section class="panel" aria-labelledby="limits-h">
        <h2 id="limits-h">Limits</h2>
        <table>${limits.filter(([k]) => KEY_LIMITS.includes(k)).map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${showLimit(k, v)}</td></tr>`)}</table>
        <details><summary>All ${limits.length} limits</summary>
          <table>${limits.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${showLimit(k, v)}</td></tr>`)}</table>
        </details>
      </section>
      <section class="panel" aria-labelledby="models-h">
        <h2 id="models-h">Loaded models</h2>
        <table>
          <thead><tr><th scope="col">Role</th><th scope="col">Name</th><th scope="col">Architecture</th><th scope="col">Parameters</th><th scope="col">Shape</th><th scope="col">Weights</th></tr></thead>
          <tbody>${info.models.map((m) => html`<tr><td class=${m.role}>${m.role}</td><td>${m.name}</td><td>${m.architecture}</td>
            <td>${formatCount(m.params)}</td><td>${m.layers} × ${m.hidden}, ${m.heads}/${m.kvHeads} heads, vocab ${m.vocab}</td><td>${m.dtype}</td></tr>`)}</tbody>
        </table>
      </section>
    `;
  }

  private async refresh(): Promise<void> {
    try {
      this.fresh = await this.session.info();
      this.error = '';
    } catch (e) {
      this.error = `Could not refresh the device info: ${(e as Error).message}`;
    }
  }
}
