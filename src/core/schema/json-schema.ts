import { z } from 'zod';
import { JobSpecSchema } from './job-spec.ts';

/**
 * The JSON Schema of a job spec as a user writes it (defaulted fields optional, defaults listed),
 * committed as schemas/job-spec.schema.json for the Python worker and editors.
 */
export function jobSpecJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(JobSpecSchema, { io: 'input', target: 'draft-2020-12' });
  return { ...schema, title: 'Retort job spec' };
}

/** The committed file's exact text: two-space indentation and a final newline. */
export function jobSpecJsonSchemaText(): string {
  return JSON.stringify(jobSpecJsonSchema(), null, 2) + '\n';
}
