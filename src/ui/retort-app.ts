import { LitElement, css, html } from 'lit';
import { customElement, state } from 'lit/decorators.js';
import { theme, controls } from './theme.ts';
import { views, viewById, type ViewEntry } from './views/registry.ts';
import { getView, setView, type NavigateDetail } from './url-state.ts';
import { SessionController, storedRunner, type Mode, type RunnerSettings } from './components/session-controller.ts';
import './components/view-tabs.ts';
import './components/connection-panel.ts';

/** A view element as the shell drives it; `navigated` is optional (see handleNavigate). */
type ViewElement = HTMLElement & { session: unknown; info: unknown; navigated?: (params: Record<string, string | number>) => void };

/**
 * The playground shell: header, where work runs (this browser's WebGPU or a runner), the view tabs
 * and the active view. Views are created once and kept, so switching tabs keeps their state; each
 * gets the session and its info as properties and its settings from the URL.
 */
@customElement('retort-app')
export class RetortApp extends LitElement {
  static override styles = [
    theme,
    controls,
    css`
      :host { display: block; font: var(--font); color: var(--text); max-width: 72rem; margin: 0 auto; padding: var(--space-3); }
      header { display: flex; flex-wrap: wrap; align-items: baseline; gap: var(--space-2) var(--space-4); margin-bottom: var(--space-2); }
      h1 { font-size: 1.5rem; margin: 0; }
      header p { margin: 0; flex: 1; }
      main { padding-top: var(--space-3); }
    `,
  ];

  private readonly conn = new SessionController(this);
  @state() private active: string = viewById(getView())?.id ?? views[0].id;
  @state() private viewError = '';
  private readonly elements = new Map<string, ViewElement>();

  override connectedCallback(): void {
    super.connectedCallback();
    this.addEventListener('retort-navigate', this.handleNavigate as EventListener);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.removeEventListener('retort-navigate', this.handleNavigate as EventListener);
  }

  override render() {
    const entry = viewById(this.active) ?? views[0];
    return html`
      <header>
        <h1>Retort</h1>
        <p class="muted">Knowledge distillation for language models: watch a teacher's soft targets train a student.</p>
      </header>
      <retort-connection-panel .mode=${this.conn.mode} .runner=${storedRunner()} .info=${this.conn.info}
        .status=${this.conn.status} @connect=${this.onConnect} @load-folder=${this.onLoadFolder}></retort-connection-panel>
      <nav aria-label="Views"><retort-view-tabs .views=${views} .selected=${entry.id}></retort-view-tabs></nav>
      <main role="tabpanel" aria-label=${entry.label}>${this.renderView(entry)}</main>
    `;
  }

  private renderView(entry: ViewEntry) {
    if (this.viewError) return html`<p class="error" role="alert">${this.viewError}</p>`;
    const { session, status } = this.conn;
    if (!session) {
      return status.phase === 'error' || status.phase === 'no-webgpu'
        ? html`<p class="muted">The views need a working session: see above.</p>`
        : html`<p class="muted">The views open once the models are loaded.</p>`;
    }
    const el = this.element(entry);
    if (!el) return html`<p role="status" class="muted">Loading the ${entry.label} view…</p>`;
    el.session = session;
    el.info = this.conn.info;
    return html`${el}`;
  }

  /**
   * The view's element, created once its module has loaded (an element made before its class is
   * defined would hide the properties set on it from the class until its first update).
   */
  private element(entry: ViewEntry): ViewElement | undefined {
    let el = this.elements.get(entry.id);
    if (!el && customElements.get(entry.tag)) {
      el = document.createElement(entry.tag) as ViewElement;
      this.elements.set(entry.id, el);
    } else if (!el) {
      entry.load().then(
        () => {
          if (customElements.get(entry.tag)) this.requestUpdate();
          else this.viewError = `The ${entry.label} view's module defines no <${entry.tag}> element`;
        },
        (e: Error) => (this.viewError = `The ${entry.label} view failed to load: ${e.message}`),
      );
    }
    return el;
  }

  /**
   * A view asked for another one. With params, a view that has `navigated(params)` is told about
   * them; one without is re-created so that it reads them from the URL as it starts.
   */
  private handleNavigate = (e: CustomEvent<NavigateDetail>): void => {
    const { view, params } = e.detail;
    if (!viewById(view)) return;
    e.stopPropagation();
    setView(view, params);
    if (params && Object.keys(params).length) {
      const el = this.elements.get(view);
      if (el?.navigated) el.navigated(params);
      else this.elements.delete(view);
    }
    this.viewError = '';
    this.active = view;
  };

  private onConnect(e: CustomEvent<{ mode: Mode; runner: RunnerSettings }>): void {
    this.elements.clear(); // views hold state about the old session's models and jobs
    void this.conn.connect(e.detail.mode, e.detail.runner);
  }

  private onLoadFolder(e: CustomEvent<{ role: 'teacher' | 'student'; files: File[] }>): void {
    void this.conn.loadFolder(e.detail.role, e.detail.files);
  }
}
