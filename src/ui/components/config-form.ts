import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import { z } from 'zod';
import { DistillConfigSchema } from '../../core/schema/distill.ts';
import type { ConfigProblem } from '../../core/schema/config-error.ts';
import { parseChoice, parseJsonText, parseNumber, setIn, type Json, type Path } from './config-form-value.ts';

/** The slice of JSON Schema (draft 2020-12, as zod writes it) the form understands. */
interface Schema {
  type?: string;
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema | false;
  prefixItems?: Schema[];
  oneOf?: Schema[];
  anyOf?: Schema[];
}

/** The distill job spec as a user writes it (defaults optional), generated once from the zod schema. */
const DISTILL_SCHEMA = z.toJSONSchema(DistillConfigSchema, { io: 'input', target: 'draft-2020-12' }) as Schema;

/**
 * A form generated from the DistillConfig schema: every field labelled with its name, its
 * description (which carries the unit) and its default; inline messages from the validator's
 * problems, placed at the field they name. Emits `config-change` with the edited spec; the owner
 * validates (parseJobSpec) and passes `problems` back, so the form and the job share one validator.
 */
@customElement('retort-config-form')
export class ConfigForm extends LitElement {
  static override styles = css`
    :host { display: block; }
    fieldset { border: 1px solid var(--border, #d6d9de); border-radius: 6px; margin: 0.4rem 0; padding: 0.3rem 0.7rem 0.5rem; }
    legend { font-weight: 600; }
    .field { display: grid; grid-template-columns: 11rem 1fr; gap: 0.1rem 0.6rem; align-items: start; margin: 0.25rem 0; }
    .field > label { font-family: var(--mono, ui-monospace, monospace); font-size: 0.85rem; padding-top: 0.2rem; overflow-wrap: anywhere; }
    .hint { grid-column: 2; color: var(--muted, #555a64); font-size: 0.78rem; }
    .error { grid-column: 2; color: var(--error, #b00020); font-size: 0.82rem; font-weight: 600; }
    input[type='text'], input[type='number'], select { font: inherit; font-size: 0.9rem; padding: 0.15rem 0.3rem; min-width: 0; width: 100%; box-sizing: border-box; }
    input[aria-invalid='true'], select[aria-invalid='true'] { outline: 2px solid var(--error, #b00020); }
    .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(24rem, 1fr)); gap: 0 1rem; }
    button { font: inherit; font-size: 0.85rem; }
    .repeated > button { margin: 0.2rem 0 0.6rem; }
  `;

  /** The spec being edited (plain JSON; absent fields take the schema's defaults). */
  @property({ attribute: false }) value: Json = {};
  /** Validation problems (dotted paths, as ConfigError gives them). */
  @property({ attribute: false }) problems: ConfigProblem[] = [];
  /** Top-level fields not shown (set by the view, e.g. `kind`). */
  @property({ attribute: false }) omit: string[] = ['$schema', 'kind'];

  override render() {
    const props = DISTILL_SCHEMA.properties ?? {};
    return html`<div class="grid">
      ${Object.entries(props)
        .filter(([key]) => !this.omit.includes(key))
        .map(([key, s]) => this.node(s, [key], this.value[key], (DISTILL_SCHEMA.required ?? []).includes(key)))}
    </div>`;
  }

  /** One schema node: objects become fieldsets, arrays of objects repeat, scalars become inputs. */
  private node(s: Schema, path: Path, value: unknown, required: boolean): TemplateResult {
    const key = String(path[path.length - 1]);
    if (s.oneOf) return this.variant(s, path, value);
    if (s.type === 'object' && s.properties) {
      const optional = !required && s.default === undefined;
      const on = value !== undefined;
      return html`<fieldset>
        <legend>${optional ? html`<label><input type="checkbox" .checked=${on} @change=${(e: Event) => this.set(path, (e.target as HTMLInputElement).checked ? {} : undefined)} /> ${key}</label>` : key}</legend>
        ${s.description ? html`<div class="hint">${s.description}</div>` : nothing}
        ${this.errorFor(path)}
        ${optional && !on ? nothing : this.fields(s, path, (value ?? {}) as Json)}
      </fieldset>`;
    }
    if (s.type === 'array' && s.items && typeof s.items === 'object' && s.items.type === 'object') return this.repeated(s.items, path, (value ?? []) as Json[]);
    return this.scalar(s, path, value);
  }

  private fields(s: Schema, path: Path, value: Json) {
    return Object.entries(s.properties ?? {}).map(([k, child]) => this.node(child, [...path, k], value[k], (s.required ?? []).includes(k)));
  }

  /** A discriminated union (`kind`): a select for the variant, then that variant's fields. */
  private variant(s: Schema, path: Path, value: unknown) {
    const current = (value ?? s.default ?? {}) as Json;
    const kinds = s.oneOf!.map((o) => String(o.properties?.kind?.const));
    const chosen = s.oneOf!.find((o) => o.properties?.kind?.const === current.kind) ?? s.oneOf![0];
    const id = this.fieldId(path);
    return html`<fieldset>
      <legend>${String(path[path.length - 1])}</legend>
      ${s.description ? html`<div class="hint">${s.description}</div>` : nothing}
      <div class="field">
        <label for=${id}>kind</label>
        <select id=${id} @change=${(e: Event) => this.set(path, { kind: (e.target as HTMLSelectElement).value })}>
          ${kinds.map((k) => html`<option value=${k} ?selected=${k === chosen.properties?.kind?.const}>${k}</option>`)}
        </select>
      </div>
      ${Object.entries(chosen.properties ?? {})
        .filter(([k]) => k !== 'kind')
        .map(([k, child]) => this.node(child, [...path, k], current[k], (chosen.required ?? []).includes(k)))}
      ${this.errorFor(path)}
    </fieldset>`;
  }

  /** An array of objects (stages): one fieldset per item, with add and remove. */
  private repeated(item: Schema, path: Path, items: Json[]) {
    const key = String(path[path.length - 1]);
    return html`<div class="repeated">${items.map(
      (v, i) => html`<fieldset>
        <legend>${key}[${i}] ${items.length > 1 ? html`<button type="button" @click=${() => this.set(path, items.filter((_, j) => j !== i))}>remove</button>` : nothing}</legend>
        ${this.errorFor([...path, i])}
        ${this.fields(item, [...path, i], v)}
      </fieldset>`,
    )}
      <button type="button" @click=${() => this.set(path, [...items, structuredClone(items[items.length - 1] ?? {})])}>add ${key.replace(/s$/, '')}</button>
      ${this.errorFor(path)}</div>`;
  }

  private scalar(s: Schema, path: Path, value: unknown) {
    const id = this.fieldId(path);
    const key = String(path[path.length - 1]);
    const hintId = `${id}-hint`;
    const invalid = this.problemAt(path) !== undefined;
    const shownDefault = s.default !== undefined ? `default ${JSON.stringify(s.default)}` : '';
    let control: TemplateResult;
    const choices = s.enum ?? s.anyOf?.flatMap((a) => a.enum ?? []);
    if (choices && !s.anyOf?.some((a) => a.type === 'object')) {
      control = html`<select id=${id} aria-describedby=${hintId} aria-invalid=${invalid} @change=${(e: Event) => this.set(path, parseChoice((e.target as HTMLSelectElement).value, choices))}>
        ${s.default === undefined ? html`<option value="" ?selected=${value === undefined}>(none)</option>` : nothing}
        ${choices.map((c) => html`<option value=${String(c)} ?selected=${(value ?? s.default) === c}>${String(c)}</option>`)}
      </select>`;
    } else if (s.type === 'boolean') {
      control = html`<input id=${id} type="checkbox" aria-describedby=${hintId} .checked=${Boolean(value ?? s.default)} @change=${(e: Event) => this.set(path, (e.target as HTMLInputElement).checked)} />`;
    } else if (s.type === 'number' || s.type === 'integer') {
      control = html`<input id=${id} type="number" step="any" aria-describedby=${hintId} aria-invalid=${invalid} placeholder=${s.default === undefined ? '' : String(s.default)}
        .value=${value === undefined ? '' : String(value)} @change=${(e: Event) => this.set(path, parseNumber((e.target as HTMLInputElement).value))} />`;
    } else {
      // Strings, and arrays or unions edited as JSON text (betas, layer maps, student init).
      const asJson = s.type !== 'string';
      const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
      control = html`<input id=${id} type="text" aria-describedby=${hintId} aria-invalid=${invalid} placeholder=${s.default === undefined ? '' : JSON.stringify(s.default)}
        .value=${text} @change=${(e: Event) => this.set(path, asJson ? parseJsonText((e.target as HTMLInputElement).value) : (e.target as HTMLInputElement).value || undefined)} />`;
    }
    return html`<div class="field">
      <label for=${id}>${key}</label>${control}
      <div class="hint" id=${hintId}>${s.description ?? ''}${shownDefault ? ` · ${shownDefault}` : ''}</div>
      ${this.errorFor(path)}
    </div>`;
  }

  private fieldId(path: Path): string {
    return `f-${path.join('-')}`;
  }

  private problemAt(path: Path): ConfigProblem | undefined {
    const p = path.join('.');
    return this.problems.find((x) => x.path === p);
  }

  private errorFor(path: Path) {
    const problem = this.problemAt(path);
    return problem ? html`<div class="error" role="alert">${path[path.length - 1]}: ${problem.message}</div>` : nothing;
  }

  private set(path: Path, v: unknown): void {
    this.value = setIn(this.value, path, v) as Json;
    this.dispatchEvent(new CustomEvent('config-change', { detail: this.value, bubbles: true, composed: true }));
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'retort-config-form': ConfigForm;
  }
}
