// Node module hooks: lets `import src from './x.wgsl?raw'` work outside Vite (CLI, benches),
// exactly as Vite resolves it in the browser and in vitest.
import { readFile } from 'node:fs/promises';

export async function resolve(specifier, context, next) {
  if (/\.wgsl\?raw$/.test(specifier) && context.parentURL) {
    return { url: new URL(specifier, context.parentURL).href, shortCircuit: true };
  }
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (/\.wgsl\?raw$/.test(url)) {
    const text = await readFile(new URL(url.replace(/\?raw$/, '')), 'utf8');
    return { format: 'module', source: `export default ${JSON.stringify(text)};`, shortCircuit: true };
  }
  return next(url, context);
}
