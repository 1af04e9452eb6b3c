import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';
import { RunnerSession } from '../../runner/client.ts';
import { LocalSession } from '../sessions/local-session.ts';
import { controls } from '../theme.ts';
import { getParam, setParam } from '../url-state.ts';
import { saveBlob } from '../components/checkpoint-files.ts';
import { flattenSpec, metricNames, runsToCsv, runsToJsonl, type RunRecord } from '../components/run-model.ts';
import { deleteRun, listRuns, saveRun } from '../components/run-store.ts';
import { alignRuns, RUN_COLORS } from '../components/run-charts.ts';
import { fetchFromRunner, loadAsStudent, runnerRun, sendToRunner } from '../components/run-transfer.ts';
import '../components/metric-chart.ts';

/**
 * Runs: this tab's runs (kept in IndexedDB) and the runner's jobs side by side — overlaid curves,
 * the differences between their configs, metrics export, and checkpoints moved between the tab and
 * the runner. The selection lives in the URL (`runs.ids`, `runs.metric`).
 */
@customElement('retort-runs-view')
export class RunsView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      table { border-collapse: collapse; font-size: 0.9rem; width: 100%; }
      th, td { text-align: left; padding: 0.2rem 0.6rem 0.2rem 0; vertical-align: top; border-bottom: 1px solid var(--border); }
      td.mono { font: var(--font-mono); overflow-wrap: anywhere; }
      .swatch { display: inline-block; width: 0.8rem; height: 0.8rem; border-radius: 2px; vertical-align: middle; }
      .bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.6rem 0; }
      .same { color: var(--muted); }
    `,
  ];

  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  @state() private runs: RunRecord[] = [];
  @state() private selected = new Set((getParam('runs', 'ids') ?? '').split(',').filter(Boolean));
  @state() private metric = getParam('runs', 'metric') ?? 'loss';
  @state() private message = '';
  @state() private error = '';

  override connectedCallback(): void {
    super.connectedCallback();
    void this.refresh();
  }

  override render() {
    const chosen = this.runs.filter((r) => this.selected.has(r.id));
    const { x, series } = alignRuns(chosen, this.metric, (r) => r.job);
    return html`
      <div class="bar">
        <button @click=${this.refresh}>Refresh</button>
        <button @click=${() => this.export('csv')} ?disabled=${!chosen.length}>Export CSV</button>
        <button @click=${() => this.export('jsonl')} ?disabled=${!chosen.length}>Export JSONL</button>
        <label>metric <select @change=${this.pickMetric}>
          ${['loss', ...metricNames(chosen)].map((m) => html`<option ?selected=${m === this.metric}>${m}</option>`)}
        </select></label>
      </div>
      ${this.message ? html`<p role="status">${this.message}</p>` : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      <table aria-label="Runs">
        <thead><tr><th scope="col">compare</th><th scope="col">run</th><th scope="col">where</th><th scope="col">state</th><th scope="col">steps</th><th scope="col">last loss</th><th scope="col">checkpoints</th></tr></thead>
        <tbody>${this.runs.map((r) => this.row(r, chosen.indexOf(r)))}</tbody>
      </table>
      ${this.runs.length ? nothing : html`<p class="muted">No runs yet: start one in the Train view.</p>`}
      <retort-metric-chart caption=${`${this.metric} by step`} .x=${x} .series=${series} .height=${220}></retort-metric-chart>
      <h3>Config differences</h3>
      ${this.diff(chosen)}
    `;
  }

  private row(r: RunRecord, colorIndex: number) {
    const last = r.steps[r.steps.length - 1];
    const cp = r.checkpoints[r.checkpoints.length - 1];
    return html`<tr>
      <td><input type="checkbox" aria-label=${`compare ${r.job}`} .checked=${this.selected.has(r.id)} @change=${() => this.toggle(r.id)} />
        ${colorIndex >= 0 ? html`<span class="swatch" style=${`background:${RUN_COLORS[colorIndex % RUN_COLORS.length]}`}></span>` : nothing}</td>
      <td>${r.job}<br /><span class="muted">${new Date(r.created).toLocaleString()}</span></td>
      <td>${r.mode === 'local' ? 'this tab' : 'runner'}</td>
      <td>${r.state}</td>
      <td>${r.steps.length}</td>
      <td>${last ? last.loss.toFixed(4) : '–'}</td>
      <td>${cp ? html`step ${cp.step} ${this.transfer(r, cp.step)}` : '–'}
        ${r.mode === 'local' ? html`<button @click=${() => this.deleteStored(r)} aria-label=${`delete ${r.job}`}>delete</button>` : nothing}</td>
    </tr>`;
  }

  /** What can be done with a run's last checkpoint from here. */
  private transfer(r: RunRecord, step: number) {
    const s = this.session;
    if (r.mode === 'local' && s instanceof RunnerSession) return html`<button @click=${() => this.act(async () => `sent to the runner as ${await sendToRunner(s, r, step)}`)}>send to runner</button>`;
    if (r.mode === 'runner' && s instanceof RunnerSession) return html`<button @click=${() => this.act(async () => `kept ${await fetchFromRunner(s, r, step)} files of ${r.job} step ${step} in this browser; switch to "This browser" to load it`)}>fetch into the tab</button>`;
    if (s instanceof LocalSession) return html`<button @click=${() => this.act(async () => (await loadAsStudent(s, r, step), `loaded ${r.job} step ${step} as the student`))}>load as student</button>`;
    return nothing;
  }

  /** Rows for config fields whose values differ between the selected runs. */
  private diff(chosen: RunRecord[]) {
    if (chosen.length < 2) return html`<p class="muted">Select two or more runs.</p>`;
    const flat = chosen.map((r) => flattenSpec(r.spec));
    const keys = [...new Set(flat.flatMap((f) => [...f.keys()]))].sort();
    const differing = keys.filter((k) => new Set(flat.map((f) => f.get(k))).size > 1);
    if (!differing.length) return html`<p class="same">The configs are identical.</p>`;
    return html`<table aria-label="Config differences">
      <thead><tr><th scope="col">field</th>${chosen.map((r) => html`<th scope="col">${r.job}</th>`)}</tr></thead>
      <tbody>${differing.map((k) => html`<tr><td class="mono">${k}</td>${flat.map((f) => html`<td class="mono">${f.get(k) ?? '(absent)'}</td>`)}</tr>`)}</tbody>
    </table>`;
  }

  private async refresh(): Promise<void> {
    this.error = '';
    try {
      const runs = await listRuns();
      const s = this.session;
      if (s instanceof RunnerSession) {
        const origin = this.info?.device ?? 'runner';
        for (const job of await s.jobs()) {
          if (job.kind !== 'distill') continue;
          const run = await runnerRun(s, job, origin);
          const i = runs.findIndex((r) => r.id === run.id);
          if (i >= 0) runs[i] = { ...run, checkpoints: run.checkpoints };
          else runs.push(run);
          await saveRun(run);
        }
      }
      this.runs = runs;
    } catch (e) {
      this.error = (e as Error).message;
    }
  }

  private toggle(id: string): void {
    const next = new Set(this.selected);
    if (!next.delete(id)) next.add(id);
    this.selected = next;
    setParam('runs', 'ids', [...next].join(','));
  }

  private pickMetric(e: Event): void {
    this.metric = (e.target as HTMLSelectElement).value;
    setParam('runs', 'metric', this.metric);
  }

  private export(kind: 'csv' | 'jsonl'): void {
    const chosen = this.runs.filter((r) => this.selected.has(r.id));
    const text = kind === 'csv' ? runsToCsv(chosen) : runsToJsonl(chosen);
    saveBlob(new Blob([text], { type: kind === 'csv' ? 'text/csv' : 'application/jsonl' }), `retort-runs.${kind}`);
  }

  private async deleteStored(r: RunRecord): Promise<void> {
    await deleteRun(r.id);
    await this.refresh();
  }

  private async act(work: () => Promise<string>): Promise<void> {
    this.message = 'working…';
    this.error = '';
    try {
      this.message = await work();
    } catch (e) {
      this.message = '';
      this.error = (e as Error).message;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-runs-view': RunsView;
  }
}
