/**
 * The outputs view's third column: the quantized student, streamed from the ONNX worker once the
 * quantization view has loaded an export (greedy: transformers.js generates without the sampling
 * settings). Until then a placeholder says where it comes from.
 */
import { LitElement, css, html } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { emptyGeneration, type GenerationState } from './generation-column.ts';
import { quantStore } from './quant-store.ts';
import './generation-column.ts';

@customElement('retort-quant-column')
export class QuantColumn extends LitElement {
  static override styles = css`
    :host { display: block; min-width: 0; }
    .placeholder { border: 1px dashed var(--border); border-radius: 6px; padding: 0.5rem 0.7rem; color: var(--muted); }
    h3 { margin: 0 0 0.3rem; font-size: 1rem; }
  `;

  /** The demo problem's answer, when the prompt is one (enables the badge). */
  @property() reference: string | null = null;

  @state() private out: GenerationState = emptyGeneration();
  @state() private revision = 0;
  private readonly onChange = () => {
    this.out = emptyGeneration();
    this.requestUpdate();
  };

  override connectedCallback(): void {
    super.connectedCallback();
    quantStore.addEventListener('change', this.onChange);
  }

  override disconnectedCallback(): void {
    quantStore.removeEventListener('change', this.onChange);
    super.disconnectedCallback();
  }

  override render() {
    const loaded = quantStore.current?.loaded;
    if (!loaded) {
      return html`<div class="placeholder"><h3>Quantized student</h3><p>Appears here once the student has a quantized export (Quantization tab).</p></div>`;
    }
    return html`<retort-generation-column style="--column-color: var(--student)" label=${`Quantized student (${loaded.dtype}, ${loaded.device}, greedy)`}
      .state=${this.out} .reference=${this.reference} .revision=${this.revision}></retort-generation-column>`;
  }

  /** Streams `prompt` from the loaded export (nothing when none is loaded); `stop` is polled per token. */
  async generate(prompt: string, maxNewTokens: number, stop: () => boolean): Promise<void> {
    if (!quantStore.current) return;
    const out = (this.out = emptyGeneration());
    let first = 0;
    try {
      await quantStore.generate(prompt, maxNewTokens, (t) => {
        if (stop()) return; // the worker finishes its run; the column stops showing it
        const now = performance.now();
        if (out.tokens === 0) first = now;
        out.tokens++;
        if (out.tokens > 1) out.tokensPerS = (out.tokens - 1) / ((now - first) / 1000);
        out.text += t.text;
        this.revision++;
      });
    } catch (err) {
      out.error = (err as Error).message;
    }
    out.done = true;
    this.revision++;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-quant-column': QuantColumn;
  }
}
