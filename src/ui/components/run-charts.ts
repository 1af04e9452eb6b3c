import { LitElement, css, html } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { colors } from '../theme.ts';
import { stageBoundaries, type RunRecord, type StepPoint } from './run-model.ts';
import type { ChartSeries } from './metric-chart.ts';
import './metric-chart.ts';

/** Colors for runs overlaid in one chart (the first run takes the student's color). */
export const RUN_COLORS = [colors.student, colors.teacher, '#2e8540', '#8e44ad', '#c0392b', '#16a085'];

const value = (p: StepPoint, metric: string): number | null => (metric === 'loss' ? p.loss : (p.metrics[metric] ?? null));

/** x = the union of the runs' steps; one series per run with nulls where a run has no such step. */
export function alignRuns(runs: readonly RunRecord[], metric: string, label: (r: RunRecord, i: number) => string): { x: number[]; series: ChartSeries[] } {
  const x = [...new Set(runs.flatMap((r) => r.steps.map((p) => p.step)))].sort((a, b) => a - b);
  const index = new Map(x.map((s, i) => [s, i]));
  const series = runs.map((r, i) => {
    const values: (number | null)[] = new Array(x.length).fill(null);
    for (const p of r.steps) values[index.get(p.step)!] = value(p, metric);
    return { label: label(r, i), color: RUN_COLORS[i % RUN_COLORS.length], values };
  });
  return { x, series };
}

/**
 * The training charts of one run: loss split into its soft and hard parts, the temperature and
 * learning-rate schedules, gradient norm and throughput. Dashed rules mark stage boundaries.
 */
@customElement('retort-run-charts')
export class RunCharts extends LitElement {
  static override styles = css`
    :host { display: grid; grid-template-columns: repeat(auto-fit, minmax(22rem, 1fr)); gap: 0.8rem 1.2rem; }
    .wide { grid-column: 1 / -1; }
  `;

  @property({ attribute: false }) run: RunRecord | null = null;
  /** Changes whenever the (mutated in place) run gains events, so the charts redraw. */
  @property({ type: Number }) revision = -1;

  override render() {
    const steps = this.run?.steps ?? [];
    const x = steps.map((p) => p.step);
    const markers = stageBoundaries(steps);
    const line = (metric: string, label: string, color: string, dash?: number[]): ChartSeries => ({ label, color, dash, values: steps.map((p) => value(p, metric)) });
    return html`
      <retort-metric-chart class="wide" caption="Loss (total = α·soft + (1 − α)·hard)" .x=${x} .markers=${markers} .height=${200}
        .series=${[line('loss', 'total', colors.text), line('soft', 'soft (T²·KL)', colors.teacher), line('hard', 'hard (CE)', colors.student, [6, 3])]}></retort-metric-chart>
      <retort-metric-chart caption="Temperature" .x=${x} .markers=${markers} .series=${[line('temperature', 'T', colors.accent)]}></retort-metric-chart>
      <retort-metric-chart caption="Learning rate (per step)" .x=${x} .markers=${markers} .series=${[line('lr', 'lr', colors.accent)]}></retort-metric-chart>
      <retort-metric-chart caption="Gradient norm (before clipping)" .x=${x} .markers=${markers} .series=${[line('grad_norm', '‖g‖', colors.muted)]}></retort-metric-chart>
      <retort-metric-chart caption="Throughput (tokens/s)" .x=${x} .markers=${markers} .series=${[line('tokens_per_s', 'tokens/s', colors.muted)]}></retort-metric-chart>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-run-charts': RunCharts;
  }
}
