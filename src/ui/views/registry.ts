/**
 * The playground's views, in tab order. Each entry's element is `retort-<id>-view` and takes the
 * properties in ViewProps; `load` imports its module on first use so the first paint stays small.
 * Add a view with one line here (keep the order: probing views, then training and results).
 */
import type { DistillSession, SessionInfo } from '../../core/session.ts';

export interface ViewEntry {
  id: string;
  label: string;
  tag: string;
  load: () => Promise<unknown>;
}

/** What the shell sets on every view element. */
export interface ViewProps {
  session: DistillSession;
  info: SessionInfo | null;
}

export const views: ViewEntry[] = [
  { id: 'probe', label: 'Temperature & logits', tag: 'retort-probe-view', load: () => import('./probe-view.ts') },
  { id: 'divergence', label: 'Divergence map', tag: 'retort-divergence-view', load: () => import('./divergence-view.ts') },
  { id: 'train', label: 'Train', tag: 'retort-train-view', load: () => import('./train-view.ts') },
  { id: 'outputs', label: 'Outputs', tag: 'retort-outputs-view', load: () => import('./outputs-view.ts') },
  { id: 'quant', label: 'Quantization', tag: 'retort-quant-view', load: () => import('./quant-view.ts') },
  { id: 'runs', label: 'Runs', tag: 'retort-runs-view', load: () => import('./runs-view.ts') },
  { id: 'data', label: 'Data', tag: 'retort-data-view', load: () => import('./data-view.ts') },
  { id: 'device', label: 'Device', tag: 'retort-device-view', load: () => import('./device-view.ts') },
  { id: 'lessons', label: 'Lessons', tag: 'retort-lessons-view', load: () => import('./lessons-view.ts') },
];

export function viewById(id: string | null): ViewEntry | undefined {
  return views.find((v) => v.id === id);
}
