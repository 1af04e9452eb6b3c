import { LitElement, css, html, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, JobAction, SessionInfo } from '../../core/session.ts';
import { ConfigError } from '../../core/schema/config-error.ts';
import { parseJobSpec } from '../../core/schema/job-spec.ts';
import type { ConfigProblem } from '../../core/schema/config-error.ts';
import { isTerminalState } from '../../core/telemetry.ts';
import { controls } from '../theme.ts';
import { demoConfig, type Json } from '../components/demo-config.ts';
import { setIn } from '../components/config-form-value.ts';
import { getNumber, getParam, setParam } from '../url-state.ts';
import { RunFollower } from '../components/run-follower.ts';
import { etaMs, formatDuration, newRun, type RunRecord } from '../components/run-model.ts';
import { latestRun } from '../components/run-store.ts';
import '../components/config-form.ts';
import '../components/run-charts.ts';
import '../components/checkpoint-list.ts';

/** The run this page started last, kept across tab switches (the view element may be recreated). */
let active: { session: DistillSession; run: RunRecord } | null = null;

/**
 * Train: a distill spec edited in a form generated from the schema, started on the session (this
 * tab's GPU or the runner, the same way), with live charts, progress and checkpoints.
 */
@customElement('retort-train-view')
export class TrainView extends LitElement {
  static override styles = [controls, css`
    :host { display: block; }
    .bar { display: flex; flex-wrap: wrap; gap: 0.5rem; align-items: center; margin: 0.6rem 0; }
    progress { width: 18rem; height: 1rem; }
    .state { font-weight: 600; }
    .error { color: var(--error, #b00020); }
    .muted { color: var(--muted, #555a64); }
    details { margin: 0.5rem 0; }
    pre { font-size: 0.78rem; max-height: 16rem; overflow: auto; background: var(--surface-alt, #f5f6f8); padding: 0.5rem; }
    section { margin: 1rem 0; }
    h2 { font-size: 1.15rem; margin: 0.4rem 0; }
  `];

  /** Where jobs run (LocalSession or RunnerSession). */
  @property({ attribute: false }) session!: DistillSession;
  /** The session's device and loaded models (model paths prefill the form). */
  @property({ attribute: false }) info: SessionInfo | null = null;

  @state() private spec: Json | null = null;
  @state() private problems: ConfigProblem[] = [];
  @state() private startError = '';
  @state() private starting = false;
  private readonly follower = new RunFollower(this);

  override connectedCallback(): void {
    super.connectedCallback();
    if (active && active.session === this.session) {
      void this.follower.follow(active.session, active.run);
    } else {
      void latestRun(this.info?.mode ?? 'local').then((r) => {
        if (!this.follower.run) this.follower.show(r);
      });
    }
  }

  /** Opened by another view with settings in the URL (lessons → `train.steps`, `train.autostart`). */
  override firstUpdated(): void {
    this.takeHandover();
  }

  /** The shell calls this when another view navigates here while this element exists (url-state.ts). */
  navigated(): void {
    this.takeHandover();
  }

  override render() {
    this.spec ??= demoConfig(this.info);
    const run = this.follower.run;
    const live = run !== null && active?.run === run && !isTerminalState(run.state);
    const last = run?.steps[run.steps.length - 1];
    const eta = run && live ? etaMs(run) : null;
    return html`
      <section aria-labelledby="run-h">
        <h2 id="run-h">Run</h2>
        <div class="bar">
          <button @click=${this.start} ?disabled=${live || this.starting || this.problems.length > 0}>Start</button>
          <button @click=${() => this.control('pause')} ?disabled=${!live || run?.state !== 'running'}>Pause</button>
          <button @click=${() => this.control('resume')} ?disabled=${!live || run?.state !== 'paused'}>Resume</button>
          <button @click=${() => this.control('stop')} ?disabled=${!live}>Stop</button>
          ${run
            ? html`<span>Job <code>${run.job}</code> · state: <span class="state" role="status">${run.state}</span></span>
                <progress max=${run.totalSteps || 1} value=${last ? last.step + 1 : 0} aria-label="training progress"></progress>
                <span>step ${last ? last.step + 1 : 0} / ${run.totalSteps}${last ? ` · loss ${last.loss.toFixed(4)}` : ''}${eta !== null ? ` · ETA ${formatDuration(eta)}` : ''}</span>`
            : html`<span class="muted">No run yet.</span>`}
        </div>
        ${this.problems.length ? html`<p class="error" role="alert">${this.problems.length} field${this.problems.length > 1 ? 's' : ''} of the config below to fix before starting.</p>` : nothing}
        ${this.startError ? html`<p class="error" role="alert">${this.startError}</p>` : nothing}
        ${this.follower.error ? html`<p class="error" role="alert">${this.follower.error}</p>` : nothing}
        ${run?.errors.length ? html`<ul class="error" role="alert">${run.errors.map((e) => html`<li>${e}</li>`)}</ul>` : nothing}
        ${run?.log?.length ? html`<details><summary>Log (${run.log.length} lines)</summary><pre>${run.log.join('\n')}</pre></details>` : nothing}
        <retort-run-charts .run=${run} .revision=${run?.lastSeq ?? -1}></retort-run-charts>
      </section>
      <section aria-labelledby="ckpt-h">
        <h2 id="ckpt-h">Checkpoints</h2>
        <retort-checkpoint-list .run=${run} .revision=${run?.lastSeq ?? -1} .session=${active?.run === run ? this.session : null}></retort-checkpoint-list>
      </section>
      <section aria-labelledby="cfg-h">
        <h2 id="cfg-h">Distillation config</h2>
        <p class="muted">loss = α · T² · D(p<sub>t</sub><sup>T</sup> ‖ p<sub>s</sub><sup>T</sup>) + (1 − α) · CE(y, p<sub>s</sub>), averaged over the assistant tokens. Runs ${this.info?.mode === 'runner' ? 'on the runner' : 'in this tab (WebGPU worker)'}.</p>
        <retort-config-form .value=${this.spec} .problems=${this.problems} @config-change=${this.onChange}></retort-config-form>
        <details><summary>Spec as JSON</summary><pre>${JSON.stringify(this.spec, null, 2)}</pre></details>
      </section>
    `;
  }

  /** Applies `train.steps` to the first stage and starts once for `train.autostart=1` (then clears it, so a reload does not start again). */
  private takeHandover(): void {
    const steps = getNumber('train', 'steps', NaN);
    if (Number.isInteger(steps) && steps >= 1) {
      this.spec = setIn(this.spec ?? demoConfig(this.info), ['stages', 0, 'stop', 'steps'], steps) as Json;
      this.problems = validate(this.spec);
    }
    if (getParam('train', 'autostart') !== '1') return;
    setParam('train', 'autostart', null);
    const run = this.follower.run;
    if (!(run && active?.run === run && !isTerminalState(run.state))) void this.start();
  }

  private onChange(e: CustomEvent<Json>): void {
    this.spec = e.detail;
    this.problems = validate(this.spec);
  }

  private async start(): Promise<void> {
    const spec = this.spec!;
    this.problems = validate(spec);
    if (this.problems.length) return;
    this.starting = true;
    this.startError = '';
    try {
      // The resolved spec (defaults filled in) is what ran, and what the Runs view diffs.
      const resolved = parseJobSpec({ kind: 'distill', ...spec }, 'train form');
      const run = newRun(await this.session.start(resolved), this.info?.mode ?? 'local', resolved);
      active = { session: this.session, run };
      void this.follower.follow(this.session, run);
    } catch (e) {
      this.startError = (e as Error).message;
    } finally {
      this.starting = false;
    }
  }

  private async control(action: JobAction): Promise<void> {
    const run = this.follower.run;
    if (!run) return;
    try {
      await this.session.control(run.job, action);
    } catch (e) {
      this.startError = `${action}: ${(e as Error).message}`;
    }
  }
}

/** The validator's problems for a spec (none when it is valid). */
function validate(spec: Json): ConfigProblem[] {
  try {
    parseJobSpec({ kind: 'distill', ...spec }, 'train form');
    return [];
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-train-view': TrainView;
  }
}
