import { z } from 'zod';
import { parseConfig, parseConfigText } from './config-error.ts';
import { DistillConfigSchema } from './distill.ts';
import { EvalSpecSchema } from './eval.ts';
import { ExportSpecSchema } from './export.ts';
import { TeacherGenerateSpecSchema } from './teacher-generate.ts';

/** What `DistillSession.start` takes in both modes. */
export const JobSpecSchema = z
  .discriminatedUnion('kind', [DistillConfigSchema, TeacherGenerateSpecSchema, EvalSpecSchema, ExportSpecSchema])
  .describe('Retort job spec');
export type JobSpec = z.infer<typeof JobSpecSchema>;
/** A spec as a user writes it: defaulted fields may be left out. */
export type JobSpecInput = z.input<typeof JobSpecSchema>;
export type JobKind = JobSpec['kind'];

export const JOB_KINDS = ['distill', 'teacher-generate', 'eval', 'export'] as const satisfies readonly JobKind[];

/** Validate a parsed JSON value; throws ConfigError naming `source` and each failing field path. */
export function parseJobSpec(json: unknown, source = 'job spec'): JobSpec {
  return parseConfig(JobSpecSchema, json, source);
}

/** Parse and validate the text of a spec file. */
export function parseJobSpecText(text: string, source = 'job spec'): JobSpec {
  return parseConfigText(JobSpecSchema, text, source);
}
