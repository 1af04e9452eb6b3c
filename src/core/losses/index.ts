export * from './dense.ts';
export * from './divergence.ts';
export * from './hidden.ts';
export * from './options.ts';
export * from './softmax.ts';
export * from './sparse.ts';
