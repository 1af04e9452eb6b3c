/** Shape checks shared by the loss references; errors name the tensor and the offending index. */

export function checkLength(name: string, x: ArrayLike<number> | undefined, expected: number, shape: string): void {
  if (!x) throw new Error(`${name}: missing (expected ${shape} = ${expected} values)`);
  if (x.length !== expected) throw new Error(`${name}: has ${x.length} values, expected ${shape} = ${expected}`);
}

export function checkFinite(name: string, x: ArrayLike<number>, rowLength: number): void {
  for (let i = 0; i < x.length; i++)
    if (!Number.isFinite(x[i])) throw new Error(`${name}: non-finite value ${x[i]} at [${Math.floor(i / rowLength)}, ${i % rowLength}]`);
}

/** Mask entries must be 0 or 1; absent = every token counts. Returns the count of tokens that count. */
export function checkMask(mask: ArrayLike<number> | undefined, tokens: number): number {
  if (!mask) return tokens;
  checkLength('mask', mask, tokens, '[tokens]');
  let count = 0;
  for (let i = 0; i < tokens; i++) {
    if (mask[i] !== 0 && mask[i] !== 1) throw new Error(`mask: value ${mask[i]} at [${i}] (expected 0 or 1)`);
    count += mask[i];
  }
  return count;
}

export function checkLabel(labels: ArrayLike<number>, t: number, vocab: number): number {
  const y = labels[t];
  if (!Number.isInteger(y) || y < 0 || y >= vocab) throw new Error(`labels: id ${y} at [${t}] is outside [0, ${vocab})`);
  return y;
}

export function checkShape(tokens: number, vocab: number): void {
  if (!Number.isInteger(tokens) || tokens < 0) throw new Error(`tokens: ${tokens} is not a count`);
  if (!Number.isInteger(vocab) || vocab < 1) throw new Error(`vocab: ${vocab} is not a positive count`);
}
