import { LitElement, css, html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { wrap, type Remote } from 'comlink';
import type { EngineApi } from '../../workers/engine.worker.ts';
import type { GpuEnv } from '../engine/env.ts';

/**
 * The playground shell. For now: the device panel and an engine check that distils a random teacher
 * into a random student on this GPU (the full views arrive with the UI issue).
 */
@customElement('retort-app')
export class RetortApp extends LitElement {
  static override styles = css`
    :host { display: block; font: 15px/1.5 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d1d1f; }
    h1 { font-size: 1.6rem; margin: 0 0 0.25rem; }
    .muted { color: #555; }
    section { border: 1px solid #ddd; border-radius: 8px; padding: 1rem; margin: 1rem 0; }
    button { font: inherit; padding: 0.4rem 0.9rem; }
    table { border-collapse: collapse; }
    td { padding: 0.15rem 0.75rem 0.15rem 0; }
    .error { color: #b00020; }
  `;

  @state() private env: GpuEnv | null = null;
  @state() private error = '';
  @state() private losses: number[] = [];
  @state() private running = false;
  private engine: Remote<EngineApi> | null = null;

  override connectedCallback(): void {
    super.connectedCallback();
    this.engine = wrap<EngineApi>(new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module' }));
    this.engine.env().then((env) => (this.env = env), (e: Error) => (this.error = e.message));
  }

  override render() {
    return html`
      <h1>Retort</h1>
      <p class="muted">Knowledge distillation for language models, on your GPU.</p>
      <section aria-labelledby="device-h">
        <h2 id="device-h">Device</h2>
        ${this.error
          ? html`<p class="error" role="alert">${this.error}</p>`
          : this.env
            ? html`<table>
                <tr><td>Adapter</td><td>${this.env.adapter}</td></tr>
                <tr><td>Software adapter</td><td>${this.env.isSoftware ? 'yes (slow: expect seconds per step)' : 'no'}</td></tr>
                <tr><td>Largest buffer</td><td>${(this.env.limits.maxBufferSize / 2 ** 20).toFixed(0)} MiB</td></tr>
              </table>`
            : html`<p>Looking for a WebGPU adapter…</p>`}
      </section>
      <section aria-labelledby="check-h">
        <h2 id="check-h">Engine check</h2>
        <p>Distils a random teacher into a random student for 5 steps in a worker: loss = α·T²·KL(p<sub>t</sub><sup>T</sup> ‖ p<sub>s</sub><sup>T</sup>) + (1 − α)·CE.</p>
        <button @click=${this.check} ?disabled=${this.running || !this.env}>${this.running ? 'Training…' : 'Run 5 steps'}</button>
        ${this.losses.length ? html`<p>Loss per step: <output>${this.losses.map((l) => l.toFixed(4)).join(' → ')}</output></p>` : ''}
      </section>
    `;
  }

  private async check(): Promise<void> {
    this.running = true;
    try {
      this.losses = (await this.engine!.selfTest(5)).losses;
    } catch (e) {
      this.error = (e as Error).message;
    } finally {
      this.running = false;
    }
  }
}
