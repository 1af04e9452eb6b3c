/**
 * The playground's design tokens, defined once. The shell applies `theme` to its host; views inherit
 * the custom properties through the shadow boundary and write `var(--teacher)`, `var(--space-2)`, …
 * Canvas drawing (uPlot) cannot read CSS, so it takes the same values from `colors`.
 */
import { css, unsafeCSS } from 'lit';

/** Colors as strings for canvas drawing; the CSS properties below are generated from them. */
export const colors = {
  teacher: '#2a6fdb',
  student: '#b45f1b', // a darker orange than #d9822b so text and thin lines reach WCAG AA contrast on white
  tail: '#80868f',
  text: '#1d1d1f',
  muted: '#555a64',
  border: '#d6d9de',
  error: '#b00020',
  ok: '#1e7b34',
  surface: '#ffffff',
  surfaceAlt: '#f4f5f7',
  accent: '#4b2fb0',
} as const;

const v = (c: string) => unsafeCSS(c);

export const theme = css`
  :host {
    --teacher: ${v(colors.teacher)};
    --student: ${v(colors.student)};
    --tail: ${v(colors.tail)};
    --text: ${v(colors.text)};
    --muted: ${v(colors.muted)};
    --border: ${v(colors.border)};
    --error: ${v(colors.error)};
    --ok: ${v(colors.ok)};
    --surface: ${v(colors.surface)};
    --surface-alt: ${v(colors.surfaceAlt)};
    --accent: ${v(colors.accent)};
    --font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif;
    --font-mono: 13px/1.4 ui-monospace, 'SFMono-Regular', Menlo, Consolas, monospace;
    --space-1: 0.25rem;
    --space-2: 0.5rem;
    --space-3: 1rem;
    --space-4: 1.5rem;
    --radius: 8px;
  }
`;

/** Base element styles a view may include in its `static styles` (buttons, inputs, panels, errors). */
export const controls = css`
  button, input, select, textarea { font: inherit; color: inherit; }
  button {
    padding: 0.35rem 0.85rem; border: 1px solid var(--border); border-radius: 6px;
    background: var(--surface); cursor: pointer;
  }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button:disabled { opacity: 0.55; cursor: default; }
  :focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
  .panel { border: 1px solid var(--border); border-radius: var(--radius); padding: var(--space-3); margin: var(--space-3) 0; background: var(--surface); }
  .muted { color: var(--muted); }
  .error { color: var(--error); }
  .teacher { color: var(--teacher); }
  .student { color: var(--student); }
  .mono { font: var(--font-mono); }
`;
