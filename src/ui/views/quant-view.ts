import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';
import type { ExportDtype } from '../../core/schema/export.ts';
import type { QatConfig } from '../../core/schema/adapters.ts';
import type { Comparison } from '../../onnx/compare.ts';
import { controls } from '../theme.ts';
import { getNumber, getParam, setParam } from '../url-state.ts';
import { formatBytes } from '../components/format.ts';
import { saveBlob, tarFolder, withTokenizer } from '../components/checkpoint-files.ts';
import { listRuns, loadCheckpointFiles } from '../components/run-store.ts';
import { quantStore } from '../components/quant-store.ts';
import '../components/kl-strip.ts';

/** The demo student the shell loads; checkpoints of this tab's runs are offered beside it. */
const DEMO_STUDENT = 'models/demo-student';
const DATASET = 'data/arith/val.jsonl';
const MAX_NEW_TOKENS = 48;
const DTYPES: ExportDtype[] = ['q4', 'q8', 'fp16'];

/** A student to export: the demo's folder, or a checkpoint a run in this tab saved (IndexedDB). */
interface StudentChoice {
  label: string;
  /** `demo` or `<run id>@<step>`. */
  key: string;
  checkpoint?: { run: string; job: string; step: number; studentPath: string };
}

const DEMO: StudentChoice = { label: 'demo student', key: 'demo' };

interface Results {
  comparison: Comparison;
  strip: { tokens: string[]; kl: number[] };
}

/**
 * Quantization: export the current student in the browser (fp16, q8 or q4 on a chosen grid), load it
 * with transformers.js in the ONNX worker and set it beside full precision on the demo problems:
 * KL(full ‖ quantized) per token, exact-match accuracy, perplexity, bytes, prefill and decode speed,
 * and the execution provider that ran it. Settings live in the URL (`quant.*`).
 */
@customElement('retort-quant-view')
export class QuantView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: block; }
      form { display: flex; flex-wrap: wrap; gap: 0.5rem 1.2rem; align-items: end; }
      label { display: grid; font-size: 0.85rem; }
      label.check { display: flex; gap: 0.3rem; align-items: center; }
      input[type='number'] { width: 5rem; }
      table { border-collapse: collapse; margin: var(--space-2) 0; }
      th, td { padding: 0.2rem 0.8rem; text-align: right; border-bottom: 1px solid var(--border); }
      th[scope='row'], th:first-child, caption { text-align: left; }
      caption { font-weight: 600; padding-bottom: 0.3rem; }
      progress { width: 12rem; vertical-align: middle; }
    `,
  ];

  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;

  @state() private stage = '';
  @state() private elapsed = 0;
  @state() private error = '';
  @state() private results: Results | null = null;
  @state() private students: StudentChoice[] = [DEMO];
  /** The checkpoint whose full precision the ONNX worker's engine holds. */
  private engineSource = '';

  override connectedCallback(): void {
    super.connectedCallback();
    listRuns().then(
      (runs) => {
        const saved = runs.filter((r) => r.mode === 'local' && r.spec.kind === 'distill').flatMap((r) =>
          r.checkpoints.map((c) => ({
            label: `${r.job} step ${c.step}`, key: `${r.id}@${c.step}`,
            checkpoint: { run: r.id, job: r.job, step: c.step, studentPath: r.spec.kind === 'distill' ? r.spec.student.path : DEMO_STUDENT },
          })));
        this.students = [DEMO, ...saved];
      },
      (e: Error) => (this.error = e.message),
    );
  }

  override render() {
    const dtype = this.dtype();
    const current = quantStore.current;
    return html`
      <p class="muted">Exports the student to ONNX here in the browser, loads it with transformers.js and compares it
        with its full precision on the engine, on the demo's validation problems.</p>
      <form @submit=${this.run} aria-label="Export settings">
        <label>Student<select name="student" @change=${(e: Event) => this.set('student', e)}>
          ${this.students.map((c) => html`<option value=${c.key} ?selected=${c.key === this.student().key}>${c.label}</option>`)}</select></label>
        <label>Type<select name="dtype" @change=${(e: Event) => this.set('dtype', e)}>
          ${DTYPES.map((d) => html`<option ?selected=${d === dtype}>${d}</option>`)}</select></label>
        <label>Group size<select name="group" ?disabled=${dtype !== 'q4'} @change=${(e: Event) => this.set('group', e)}>
          ${[32, 128].map((g) => html`<option ?selected=${g === this.group()}>${g}</option>`)}</select></label>
        <label class="check"><input type="checkbox" name="symmetric" ?disabled=${dtype === 'fp16'} .checked=${this.symmetric()}
          @change=${(e: Event) => setParam('quant', 'symmetric', (e.target as HTMLInputElement).checked ? 1 : 0)} />symmetric</label>
        <label>Problems<input type="number" name="problems" min="1" max="64" .value=${String(this.problems())}
          @change=${(e: Event) => this.set('problems', e)} /></label>
        <label>Max new tokens<input type="number" name="maxTokens" min="1" max="256" .value=${String(this.maxTokens())}
          @change=${(e: Event) => this.set('maxTokens', e)} /></label>
        <button class="primary" type="submit" ?disabled=${this.stage !== ''}>Export the current student</button>
      </form>
      ${this.stage
        ? html`<p role="status"><progress aria-label=${this.stage}></progress> ${this.stage} (${this.elapsed} s)</p>`
        : nothing}
      ${this.error ? html`<p class="error" role="alert">${this.error}</p>` : nothing}
      ${current
        ? html`<p>Running on <strong>${current.loaded.device === 'webgpu' ? 'WebGPU' : current.loaded.device}</strong>${current.loaded.fallback
              ? html` <span class="error">(${current.loaded.fallback})</span>` : nothing}:
            <code>${current.loaded.file}</code>, ${current.exported.grid ? this.gridText(current.exported.grid.grid, current.exported.grid.from) : 'no quantization grid'}.
            <button type="button" @click=${this.download}>Download the exported folder (.tar)</button></p>`
        : nothing}
      ${this.results ? this.renderResults(this.results) : nothing}
    `;
  }

  private renderResults({ comparison: c, strip }: Results) {
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    const rows: [string, (s: Comparison['full']) => string][] = [
      ['exact-match accuracy', (s) => pct(s.accuracy)],
      ['perplexity (reference answers)', (s) => s.perplexity.toFixed(3)],
      ['model bytes', (s) => formatBytes(s.bytes)],
      ['prefill tokens/s', (s) => s.prefillTokensPerSecond.toFixed(1)],
      ['decode tokens/s', (s) => s.decodeTokensPerSecond.toFixed(1)],
    ];
    return html`
      <table>
        <caption>Full precision vs quantized on ${c.problems} demo problem${c.problems === 1 ? '' : 's'}</caption>
        <thead><tr><th scope="col">measure</th><th scope="col">${c.full.label}</th><th scope="col">${c.quantized.label}</th></tr></thead>
        <tbody>
          ${rows.map(([name, f]) => html`<tr><th scope="row">${name}</th><td>${f(c.full)}</td><td>${f(c.quantized)}</td></tr>`)}
          <tr><th scope="row">KL(full ‖ quantized) per token</th><td colspan="2">mean ${c.klMean.toExponential(2)} · max ${c.klMax.toExponential(2)} nats</td></tr>
        </tbody>
      </table>
      <retort-kl-strip .tokens=${strip.tokens} .kl=${strip.kl}></retort-kl-strip>
    `;
  }

  private gridText(g: QatConfig, from: string): string {
    const shape = g.bits === 4 ? `groups of ${g.groupSize}` : 'per channel';
    return `int${g.bits} ${g.symmetric ? 'symmetric' : 'asymmetric'}, ${shape} (${from === 'qat' ? "the student's QAT grid" : from === 'option' ? 'as chosen' : 'default'})`;
  }

  private student(): StudentChoice {
    const key = getParam('quant', 'student');
    return this.students.find((c) => c.key === key) ?? DEMO;
  }
  private dtype(): ExportDtype {
    const d = getParam('quant', 'dtype');
    return DTYPES.find((x) => x === d) ?? 'q4';
  }
  private group(): 32 | 128 {
    return getNumber('quant', 'group', 32) === 128 ? 128 : 32;
  }
  private symmetric(): boolean {
    return getNumber('quant', 'symmetric', 1) !== 0;
  }
  private maxTokens(): number {
    return Math.max(1, Math.round(getNumber('quant', 'maxTokens', MAX_NEW_TOKENS)));
  }
  private problems(): number {
    return Math.max(1, Math.round(getNumber('quant', 'problems', 8)));
  }

  private set(key: string, e: Event): void {
    setParam('quant', key, (e.target as HTMLInputElement | HTMLSelectElement).value);
    this.requestUpdate();
  }

  private grid(dtype: ExportDtype): QatConfig | undefined {
    if (dtype === 'fp16') return undefined;
    return dtype === 'q4'
      ? { bits: 4, groupSize: this.group(), symmetric: this.symmetric(), perChannel: true }
      : { bits: 8, groupSize: 128, symmetric: this.symmetric(), perChannel: true };
  }

  /** Runs `work` with its stage shown and the seconds counted. */
  private async step<T>(stage: string, work: () => Promise<T>): Promise<T> {
    this.stage = stage;
    this.elapsed = 0;
    const started = performance.now();
    const tick = setInterval(() => (this.elapsed = Math.round((performance.now() - started) / 1000)), 500);
    try {
      return await work();
    } finally {
      clearInterval(tick);
    }
  }

  private async run(e: Event): Promise<void> {
    e.preventDefault();
    const dtype = this.dtype();
    const api = quantStore.api;
    this.error = '';
    this.results = null;
    try {
      const student = this.student();
      const files = student.checkpoint ? await this.step('Reading the checkpoint', () => this.checkpointFiles(student)) : undefined;
      const model = student.checkpoint ? `${student.checkpoint.job}-step-${student.checkpoint.step}` : DEMO_STUDENT;
      const exported = await this.step(`Exporting the student to ONNX ${dtype}`, () => api.exportModel({ model, files, dtype, grid: this.grid(dtype) }));
      const loaded = await this.step('Loading the export with transformers.js', () => api.load({ folder: exported.folder, dtype }));
      quantStore.current = { exported, loaded };
      // A tab's job ids restart after a reload, so a checkpoint's name may now mean other weights: reload those.
      if (this.engineSource !== exported.source || files) {
        this.engineSource = '';
        await this.step('Loading full precision on the engine', () => api.loadEngine(exported.source));
        this.engineSource = exported.source;
      }
      const n = this.problems();
      const comparison = await this.step(`Comparing on ${n} problems`, () => api.compare({ dataset: DATASET, limit: n, maxNewTokens: this.maxTokens(), warmUp: true }));
      const strip = await this.step('KL per token on the first problem', () => api.tokenKl({ dataset: DATASET, index: 0 }));
      this.results = { comparison, strip };
    } catch (err) {
      this.error = (err as Error).message;
    } finally {
      this.stage = '';
    }
  }

  private async checkpointFiles(c: StudentChoice): Promise<Map<string, Uint8Array>> {
    const files = await loadCheckpointFiles(c.checkpoint!.run, c.checkpoint!.step);
    if (files.size === 0) throw new Error(`${c.label}: the files of this checkpoint were not kept in this browser`);
    return withTokenizer(files, c.checkpoint!.studentPath);
  }

  private async download(): Promise<void> {
    const current = quantStore.current;
    if (!current) return;
    try {
      const files = await quantStore.api.exportedFiles(current.exported.folder);
      const name = current.exported.folder.split('/').at(-1) ?? 'export';
      saveBlob(tarFolder(name, files), `${name}.tar`);
    } catch (err) {
      this.error = (err as Error).message;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-quant-view': QuantView;
  }
}
