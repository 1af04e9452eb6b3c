import { z } from 'zod';

/** Editors put `"$schema": "…/job-spec.schema.json"` at the top of a spec for completion; it means nothing here. */
export const SchemaRefField = z.string().optional().describe('JSON Schema reference for editors (ignored)');

export const SeedSchema = z.int().min(0).max(2 ** 32 - 1).describe('random seed (data order, init, dropout, sampling)');
