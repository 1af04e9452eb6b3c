/** The Node file source lives in src/node (shared by the CLI and the runner); re-exported for the CLI's importers. */
export { NodeFileSource } from '../node/files.ts';
