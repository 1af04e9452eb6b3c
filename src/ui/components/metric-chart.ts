import { LitElement, css, html, unsafeCSS, type PropertyValues } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';

/** One line of a chart: y values aligned with the chart's x values (null = no point there). */
export interface ChartSeries {
  label: string;
  color: string;
  values: (number | null)[];
  dash?: number[];
}

/**
 * A uPlot line chart in a lit element. Data arrives as whole arrays; the element redraws with
 * setData (cheap) while the series set is unchanged and rebuilds the plot only when it changes.
 * `markers` draws vertical rules (stage boundaries) at those x values.
 */
@customElement('retort-metric-chart')
export class MetricChart extends LitElement {
  static override styles = [
    unsafeCSS(uplotCss),
    css`
      :host { display: block; min-width: 0; }
      figure { margin: 0; }
      figcaption { font-weight: 600; font-size: 0.9rem; }
      .empty { color: var(--muted, #555a64); font-size: 0.85rem; height: var(--chart-height, 160px); display: grid; place-items: center; border: 1px dashed var(--border, #d6d9de); border-radius: 6px; }
    `,
  ];

  /** Caption above the plot; also the plot's accessible name. */
  @property() caption = '';
  @property({ attribute: false }) x: number[] = [];
  @property({ attribute: false }) series: ChartSeries[] = [];
  @property({ attribute: false }) markers: number[] = [];
  @property({ type: Boolean }) logY = false;
  /** Draw bars (a histogram) instead of lines. */
  @property({ type: Boolean }) bars = false;
  @property({ type: Number }) height = 160;
  @property() xLabel = 'step';

  private plot: uPlot | null = null;
  private shape = '';
  private resizer: ResizeObserver | null = null;

  override render() {
    const last = this.series.map((s) => `${s.label} ${fmt(lastValue(s.values))}`).join(', ');
    return html`<figure role="img" aria-label=${`${this.caption}: ${this.x.length} points${last ? `; latest ${last}` : ''}`}>
      <figcaption>${this.caption}</figcaption>
      ${this.x.length ? html`<div class="plot"></div>` : html`<div class="empty" style=${`height:${this.height}px`}>no data yet</div>`}
    </figure>`;
  }

  override updated(changed: PropertyValues<this>): void {
    super.updated(changed);
    const target = this.renderRoot.querySelector<HTMLElement>('.plot');
    if (!target) {
      this.destroyPlot();
      return;
    }
    const shape = JSON.stringify([this.series.map((s) => [s.label, s.color]), this.logY, this.bars, this.height]);
    const data = [this.x, ...this.series.map((s) => s.values)] as uPlot.AlignedData;
    if (this.plot && shape === this.shape && this.plot.root.parentElement === target) {
      this.plot.setData(data);
      return;
    }
    this.destroyPlot();
    this.shape = shape;
    this.plot = new uPlot(this.options(target.clientWidth || 400), data, target);
    this.resizer = new ResizeObserver(() => this.plot?.setSize({ width: target.clientWidth || 400, height: this.height }));
    this.resizer.observe(target);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.destroyPlot();
  }

  private options(width: number): uPlot.Options {
    const markers = () => this.markers;
    return {
      width,
      height: this.height,
      legend: { show: true },
      cursor: { drag: { x: true, y: false } },
      scales: { x: { time: false }, y: this.logY ? { distr: 3 } : {} },
      // Steps and token counts are whole numbers: no fractional ticks on x.
      axes: [{ label: this.xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 1e6] }, { size: 60 }],
      series: [
        { label: this.xLabel },
        ...this.series.map((s) =>
          this.bars
            ? { label: s.label, stroke: s.color, fill: `${s.color}99`, paths: uPlot.paths.bars!({ size: [0.9, 40] }), points: { show: false } }
            : { label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: true, points: { show: false } },
        ),
      ],
      hooks: {
        // Stage boundaries: thin dashed vertical rules across the plot area.
        draw: [
          (u: uPlot) => {
            const ctx = u.ctx;
            ctx.save();
            ctx.strokeStyle = '#8a8f98';
            ctx.setLineDash([4, 4]);
            for (const m of markers()) {
              const px = u.valToPos(m, 'x', true);
              ctx.beginPath();
              ctx.moveTo(px, u.bbox.top);
              ctx.lineTo(px, u.bbox.top + u.bbox.height);
              ctx.stroke();
            }
            ctx.restore();
          },
        ],
      },
    };
  }

  private destroyPlot(): void {
    this.resizer?.disconnect();
    this.resizer = null;
    this.plot?.destroy();
    this.plot = null;
  }
}

function lastValue(values: (number | null)[]): number | null {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null) return values[i];
  return null;
}

/** Compact number for labels: 4 significant digits, exponent form for tiny/huge values. */
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '–';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-metric-chart': MetricChart;
  }
}
