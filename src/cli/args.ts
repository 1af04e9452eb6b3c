import { parseArgs, type ParseArgsConfig } from 'node:util';

/** parseArgs with errors that name the command and the option, and `--help` handled. */
export function parseCommand<O extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: O,
  help: string,
): ReturnType<typeof parseArgs<{ options: O & { help: { type: 'boolean' } }; args: string[]; allowPositionals: false }>>['values'] | null {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, allowPositionals: false, strict: true });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n\n${help}`);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(help);
    return null;
  }
  return parsed.values as never;
}

export function parseIds(text: string, option: string): Int32Array {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  const ids = parts.map((p) => Number(p));
  const bad = ids.findIndex((x) => !Number.isInteger(x) || x < 0);
  if (bad >= 0 || ids.length === 0) throw new Error(`${option}: expected comma-separated token ids, got "${parts[bad] ?? text}"`);
  return Int32Array.from(ids);
}

export function num(value: string | undefined, option: string, fallback: number): number {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (!Number.isFinite(x)) throw new Error(`${option}: "${value}" is not a number`);
  return x;
}
