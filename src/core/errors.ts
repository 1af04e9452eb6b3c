/**
 * Errors for bad input. Every message names the culprit (file, and line, tensor or field where known)
 * so a user can go straight to it; the same facts are kept as fields for code that reacts to them.
 */

/** Where in the input a problem is. `file` is the path as the user gave it. */
export interface Culprit {
  file: string;
  line?: number;
  tensor?: string;
  field?: string;
}

/** Base class so callers can tell our input errors from bugs. */
export class RetortError extends Error {
  override name = 'RetortError';
}

/**
 * A file whose content is not what the format says.
 * Message: `FILE[:LINE]: [tensor NAME: ]DETAIL` (a field is named by DETAIL itself, in quotes).
 */
export class FormatError extends RetortError {
  override name = 'FormatError';
  readonly file: string;
  readonly line?: number;
  readonly tensor?: string;
  readonly field?: string;
  readonly detail: string;

  constructor(where: Culprit, detail: string) {
    const at = where.line === undefined ? where.file : `${where.file}:${where.line}`;
    const tensor = where.tensor === undefined ? '' : `tensor ${where.tensor}: `;
    super(`${at}: ${tensor}${detail}`);
    this.file = where.file;
    this.line = where.line;
    this.tensor = where.tensor;
    this.field = where.field;
    this.detail = detail;
  }
}

/** A weight the config requires is absent: `missing tensor NAME in FILE`. */
export class MissingTensorError extends FormatError {
  override name = 'MissingTensorError';
  constructor(file: string, tensor: string) {
    super({ file, tensor }, 'missing');
    this.message = `missing tensor ${tensor} in ${file}`;
  }
}

/** A file that a FileSource does not have. */
export class MissingFileError extends RetortError {
  override name = 'MissingFileError';
  readonly file: string;
  constructor(file: string, hint = '') {
    super(`no such file: ${file}${hint ? ` (${hint})` : ''}`);
    this.file = file;
  }
}

/** Teacher and student tokenizers differ, so their logits cannot be compared token by token. */
export class TokenizerMismatchError extends RetortError {
  override name = 'TokenizerMismatchError';
}
