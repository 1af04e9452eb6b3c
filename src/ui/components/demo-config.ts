import type { SessionInfo } from '../../core/session.ts';
import demoSpec from '../../../examples/demo-kd.json';

import type { Json } from './config-form-value.ts';

export type { Json };

/** examples/demo-kd.json with the paths of the models the session has loaded (and the app's data folder). */
export function demoConfig(info: SessionInfo | null): Json {
  const { $schema: _, ...spec } = structuredClone(demoSpec) as Json & { stages: Json[] };
  const path = (role: string, fallback: string) => info?.models.find((m) => m.role === role)?.path ?? fallback;
  spec.teacher = { path: path('teacher', 'models/demo-teacher') };
  spec.student = { path: path('student', 'models/demo-student') };
  spec.stages = spec.stages.map((s) => ({ ...s, data: { ...(s.data as Json), path: 'data/arith/train.jsonl' } }));
  return spec;
}
