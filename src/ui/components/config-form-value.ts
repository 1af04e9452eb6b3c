/** Editing a JSON value by path, and reading form inputs into JSON (the validator judges the result). */

export type Json = Record<string, unknown>;
export type Path = (string | number)[];

/** A copy of `obj` with `path` set to `v` (undefined removes the key, so the default applies). */
export function setIn(obj: unknown, path: Path, v: unknown): unknown {
  if (path.length === 0) return v;
  const [head, ...rest] = path;
  if (Array.isArray(obj) || typeof head === 'number') {
    const arr = Array.isArray(obj) ? [...obj] : [];
    arr[head as number] = setIn(arr[head as number], rest, v);
    return arr;
  }
  const out: Json = { ...((obj ?? {}) as Json) };
  const next = setIn(out[head], rest, v);
  if (next === undefined) delete out[head];
  else out[head] = next;
  return out;
}

/** Empty → default; anything else goes to the validator as typed (a non-number shows its message). */
export function parseNumber(text: string): unknown {
  if (text.trim() === '') return undefined;
  const n = Number(text);
  return Number.isNaN(n) ? text : n;
}

export function parseChoice(text: string, choices: unknown[]): unknown {
  if (text === '') return undefined;
  return choices.find((c) => String(c) === text) ?? text;
}

export function parseJsonText(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text; // the validator names the field and what it expected
  }
}
