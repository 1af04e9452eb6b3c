import type { z } from 'zod';

/** One failing field: a dotted path (`stages.0.loss.alpha`) and what is wrong with it. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A config that failed validation; the message names the source and every failing field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(problems.map((p) => (p.path ? `${source}: ${p.path}: ${p.message}` : `${source}: ${p.message}`)).join('\n'));
  }
}

/** Parse `json` with `schema`, throwing a ConfigError that names `source` and each failing field. */
export function parseConfig<S extends z.ZodType>(schema: S, json: unknown, source: string): z.output<S> {
  const result = schema.safeParse(json, { reportInput: true });
  if (result.success) return result.data;
  throw new ConfigError(source, result.error.issues.flatMap((issue) => describeIssue(issue, [])));
}

/** Parse JSON text (a file's contents) and then validate it; syntax errors name the line and column. */
export function parseConfigText<S extends z.ZodType>(schema: S, text: string, source: string): z.output<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(source, [{ path: '', message: jsonSyntaxMessage(text, e) }]);
  }
  return parseConfig(schema, json, source);
}

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

export function formatPath(path: Path): string {
  return path.map(String).join('.');
}

function describeIssue(issue: Issue, prefix: Path): ConfigProblem[] {
  const path = [...prefix, ...issue.path];
  if (issue.code === 'unrecognized_keys')
    return issue.keys.map((key) => ({ path: formatPath([...path, key]), message: 'unknown field' }));
  return [{ path: formatPath(path), message: issueMessage(issue) }];
}

function issueMessage(issue: Issue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.expected === 'int' && typeof issue.input === 'number') return `must be an integer (got ${issue.input})`;
      return `expected ${issue.expected}, got ${kindOf(issue.input)}`;
    case 'too_big':
      return bound(issue.origin, issue.maximum, issue.inclusive ?? true, 'big');
    case 'too_small':
      return bound(issue.origin, issue.minimum, issue.inclusive ?? true, 'small');
    case 'invalid_value':
      return `must be ${oneOf(issue.values)} (got ${show(issue.input)})`;
    case 'invalid_union': {
      // Discriminated unions report an unknown tag with the tag's path and the known options.
      const { options, discriminator } = issue as { options?: unknown[]; discriminator?: string };
      if (options && discriminator) return `must be ${oneOf(options)} (got ${show(field(issue.input, discriminator))})`;
      const branches = issue.errors.map(
        (branch, i) => `(${i + 1}) ` + branch.flatMap((sub) => describeIssue(sub, [])).map(asText).join(', '),
      );
      return `matches none of the allowed forms: ${branches.join('; ')}`;
    }
    case 'invalid_format':
      return `must be a valid ${issue.format} (got ${show(issue.input)})`;
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return issue.message;
  }
}

/** A branch's problem, relative to the union's own path. */
function asText(p: ConfigProblem): string {
  return p.path ? `${p.path}: ${p.message}` : p.message;
}

function bound(origin: string, limit: number | bigint, inclusive: boolean, side: 'big' | 'small'): string {
  if (origin === 'array' || origin === 'set') {
    const n = side === 'big' ? (inclusive ? limit : Number(limit) - 1) : inclusive ? limit : Number(limit) + 1;
    return `must have ${side === 'big' ? 'at most' : 'at least'} ${n} item${Number(n) === 1 ? '' : 's'}`;
  }
  if (origin === 'string') {
    if (side === 'small' && Number(limit) === 1) return 'must not be empty';
    return `must be ${side === 'big' ? 'at most' : 'at least'} ${limit} characters`;
  }
  const op = side === 'big' ? (inclusive ? '≤' : '<') : inclusive ? '≥' : '>';
  return `must be ${op} ${limit}`;
}

function oneOf(values: readonly unknown[]): string {
  return values.length === 1 ? show(values[0]) : `one of ${values.map(show).join(', ')}`;
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (v === undefined) return 'nothing';
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function field(input: unknown, key: string): unknown {
  return typeof input === 'object' && input !== null ? (input as Record<string, unknown>)[key] : undefined;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function jsonSyntaxMessage(text: string, e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  const at = /position (\d+)/.exec(message);
  if (!at) return `invalid JSON: ${message}`;
  const pos = Number(at[1]);
  const before = text.slice(0, pos).split('\n');
  return `invalid JSON at line ${before.length}, column ${before[before.length - 1].length + 1}: ${message}`;
}
