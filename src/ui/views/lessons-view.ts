import { LitElement, css, html, nothing, type TemplateResult } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DistillSession, SessionInfo } from '../../core/session.ts';
import { controls } from '../theme.ts';
import { getNumber, navigateEvent, setParam } from '../url-state.ts';
import './probe-view.ts';
import './divergence-view.ts';

interface Lesson {
  title: string;
  body: TemplateResult;
  /** A live view shown under the text, with the settings it starts from (written to its URL keys). */
  live?: { view: 'probe' | 'divergence'; tag: string; params: Record<string, string | number> };
  /** A button that takes the reader elsewhere to do the step. */
  action?: { label: string; view: string; params: Record<string, string | number> };
}

/** The train view reads these to run a short distillation as soon as it opens. */
const TRAIN_FIVE_STEPS = { steps: 5, autostart: 1 };

const LESSONS: Lesson[] = [
  {
    title: 'Soft targets',
    body: html`<p>A language model does not output an answer: it outputs a <em>probability for every token</em> that could come next.
      Below, the teacher (blue) and the student (orange) read the same worked arithmetic problem and predict the answer's first digit.</p>
      <p>Training on the data alone would only tell the student which token was right. Distillation trains it on the teacher's whole
      distribution — its <em>soft targets</em>, which also say how wrong each wrong answer is.</p>`,
    live: { view: 'probe', tag: 'retort-probe-view', params: { p: 0, text: '', pos: '', t: 1 } },
  },
  {
    title: 'Temperature',
    body: html`<p>A confident teacher puts almost all its mass on one token, and then its soft targets say little more than the label.
      Dividing the logits by a temperature <var>T</var> &gt; 1 before the softmax flattens both distributions, so the teacher's
      runner-up tokens become visible.</p>
      <p>The slider below starts at <var>T</var> = 4. Move it and watch the entropies rise with <var>T</var> and the KL change.</p>`,
    live: { view: 'probe', tag: 'retort-probe-view', params: { p: 0, text: '', pos: '', t: 4 } },
  },
  {
    title: 'KL vs cross-entropy',
    body: html`<p>Cross-entropy scores the student on the one token that came next: −ln <var>p</var><sub>s</sub>(token).
      KL(<var>p</var><sub>t</sub> ‖ <var>p</var><sub>s</sub>) compares the whole distributions: it is zero only when the student
      matches the teacher on every token.</p>
      <p>Here every token of the conversation is colored by the KL at that step. Switch to cross-entropy and compare where each is large.</p>`,
    live: { view: 'divergence', tag: 'retort-divergence-view', params: { p: 0, text: '', metric: 'kl' } },
  },
  {
    title: 'A token up close',
    body: html`<p>Now colored by cross-entropy: dark tokens are the ones the student found surprising. Click one of the darkest —
      often a digit of the answer — to open the two distributions that predicted it in the Temperature &amp; logits view.</p>`,
    live: { view: 'divergence', tag: 'retort-divergence-view', params: { p: 2, text: '', metric: 'ce' } },
  },
  {
    title: 'Training the student',
    body: html`<p>The distillation loss mixes both: <var>α</var> · <var>T</var>² · KL(<var>p</var><sub>t</sub><sup><var>T</var></sup> ‖
      <var>p</var><sub>s</sub><sup><var>T</var></sup>) + (1 − <var>α</var>) · CE. The <var>T</var>² keeps the KL's gradients the same
      size whatever the temperature.</p>
      <p>Run five training steps of the student on the teacher, right here on your GPU, and watch the loss fall.
      Then come back to the divergence map: the KL of the same problem has moved.</p>`,
    action: { label: 'Train the student for 5 steps', view: 'train', params: TRAIN_FIVE_STEPS },
  },
];

/**
 * Lessons: a short guided tour of distillation, each step live on the loaded models (an embedded
 * logits or divergence view set up for the point being made, or a button into the train view).
 * URL: lessons.step (1-based).
 */
@customElement('retort-lessons-view')
export class LessonsView extends LitElement {
  static override styles = [
    controls,
    css`
      :host { display: grid; grid-template-columns: 13rem 1fr; gap: var(--space-4); }
      @media (max-width: 50rem) { :host { grid-template-columns: 1fr; } }
      ol { margin: 0; padding-left: 1.4rem; }
      ol button { border: none; background: none; padding: 0.2rem 0; text-align: left; color: var(--accent); text-decoration: underline; }
      ol button[aria-current='step'] { color: var(--text); font-weight: 700; text-decoration: none; }
      h2 { margin: 0 0 var(--space-2); font-size: 1.25rem; }
      .text { max-width: 46rem; }
      .nav { display: flex; gap: var(--space-2); align-items: center; margin: var(--space-3) 0; }
      .live { border-top: 1px solid var(--border); padding-top: var(--space-2); }
    `,
  ];

  /** Passed on to the embedded views. */
  @property({ attribute: false }) session!: DistillSession;
  @property({ attribute: false }) info: SessionInfo | null = null;
  @state() private step = Math.min(LESSONS.length, Math.max(1, Math.trunc(getNumber('lessons', 'step', 1))));
  /** Each step's live view, made when the step is first shown (so it reads the step's settings). */
  private readonly liveViews = new Map<number, HTMLElement & { session: DistillSession; info: SessionInfo | null }>();

  override render() {
    const lesson = LESSONS[this.step - 1];
    return html`
      <nav aria-label="Lesson steps">
        <ol>${LESSONS.map((l, i) => html`<li><button type="button" aria-current=${i + 1 === this.step ? 'step' : 'false'} @click=${() => this.go(i + 1)}>${l.title}</button></li>`)}</ol>
      </nav>
      <article aria-labelledby="lesson-h">
        <div class="text">
          <h2 id="lesson-h" tabindex="-1">${this.step}. ${lesson.title}</h2>
          ${lesson.body}
          ${lesson.action ? html`<button class="primary" type="button" @click=${() => this.dispatchEvent(navigateEvent({ view: lesson.action!.view, params: lesson.action!.params }))}>${lesson.action.label}</button>` : nothing}
        </div>
        <div class="nav">
          <button type="button" ?disabled=${this.step === 1} @click=${() => this.go(this.step - 1)}>Previous</button>
          <span class="muted">Step ${this.step} of ${LESSONS.length}</span>
          <button type="button" class="primary" ?disabled=${this.step === LESSONS.length} @click=${() => this.go(this.step + 1)}>Next</button>
        </div>
        ${lesson.live ? html`<div class="live">${this.liveView(this.step, lesson.live)}</div>` : nothing}
      </article>
    `;
  }

  private liveView(step: number, live: NonNullable<Lesson['live']>) {
    let el = this.liveViews.get(step);
    if (!el) {
      for (const [k, v] of Object.entries(live.params)) setParam(live.view, k, v);
      el = document.createElement(live.tag) as HTMLElement & { session: DistillSession; info: SessionInfo | null };
      this.liveViews.set(step, el);
    }
    el.session = this.session;
    el.info = this.info;
    return el;
  }

  private async go(step: number): Promise<void> {
    this.step = step;
    setParam('lessons', 'step', step);
    await this.updateComplete;
    this.renderRoot.querySelector<HTMLElement>('#lesson-h')?.focus();
  }
}
