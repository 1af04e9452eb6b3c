/**
 * View settings live in the URL query, namespaced by view: `?view=probe&probe.t=2&probe.pos=5`, so
 * a link reproduces what someone saw. Writes use history.replaceState: moving a slider must not
 * flood the back button.
 */

const key = (view: string, name: string) => `${view}.${name}`;

/** The value of `view.name` in the current URL, or null when absent. */
export function getParam(view: string, name: string): string | null {
  return new URLSearchParams(location.search).get(key(view, name));
}

/** Sets `view.name` in the URL (null or '' removes it) without adding a history entry. */
export function setParam(view: string, name: string, value: string | number | null): void {
  const url = new URL(location.href);
  if (value === null || value === '') url.searchParams.delete(key(view, name));
  else url.searchParams.set(key(view, name), String(value));
  history.replaceState(history.state, '', url);
}

/** A number setting, falling back when absent or not a finite number. */
export function getNumber(view: string, name: string, fallback: number): number {
  const raw = getParam(view, name);
  const n = raw === null ? NaN : Number(raw);
  return Number.isFinite(n) ? n : fallback;
}

/** The active view id (`?view=`), or null. */
export function getView(): string | null {
  return new URLSearchParams(location.search).get('view');
}

/** Sets the active view and, optionally, settings for it ('' removes one), e.g. from a `retort-navigate` event. */
export function setView(view: string, params: Record<string, string | number> = {}): void {
  const url = new URL(location.href);
  url.searchParams.set('view', view);
  for (const [name, value] of Object.entries(params)) {
    if (value === '') url.searchParams.delete(key(view, name));
    else url.searchParams.set(key(view, name), String(value));
  }
  history.replaceState(history.state, '', url);
}

/**
 * Detail of the `retort-navigate` event a view dispatches to switch views. The shell writes
 * `params` into the URL under the target view's name, then: if the target view's element exists
 * and has a `navigated(params)` method, calls it; otherwise (re)creates the element, which reads its
 * settings from the URL as it starts. Known uses: divergence → probe {p | text, pos, t};
 * lessons → train {steps: 5, autostart: 1} (the train view runs that many steps on opening).
 */
export interface NavigateDetail {
  view: string;
  params?: Record<string, string | number>;
}

/** The event views dispatch to switch views (bubbles out of shadow roots up to the shell). */
export function navigateEvent(detail: NavigateDetail): CustomEvent<NavigateDetail> {
  return new CustomEvent('retort-navigate', { detail, bubbles: true, composed: true });
}
