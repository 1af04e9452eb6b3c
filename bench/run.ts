/**
 * `npm run bench` — serves the production build, opens bench.html in Chromium (WebGPU; SwiftShader
 * when there is no GPU), runs the suite in the page and prints the tables; the full result goes to
 * bench/results/latest.json.
 *
 *   node bin/run-ts.mjs bench/run.ts [--shapes ci|real] [--reps N] [--target-ms MS]
 *                                    [--cases matmul,forward,train] [--impls engine,ort,…]
 *                                    [--build] [--out FILE]
 *
 * It serves dist/ (`npx vite build`) when dist/bench.html exists; with --build, or without it, it
 * builds bench.html alone into a temporary folder and serves that.
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { openPage } from '../test/e2e/browser.ts';
import { buildBenchOnly } from './build.ts';
import { markdownReport } from './report.ts';
import type { BenchPageApi, CaseKind, ShapeSet, SuiteConfig, SuiteResult } from './protocol.ts';

interface Args {
  config: SuiteConfig;
  build: boolean;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const config: SuiteConfig = { shapes: 'ci', reps: 5, targetMs: 250 };
  let forceBuild = false;
  let out = 'bench/results/latest.json';
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`bench: ${flag} needs a value`);
      return v;
    };
    if (flag === '--shapes') {
      const v = value();
      if (v !== 'ci' && v !== 'real') throw new Error(`bench: --shapes must be ci or real, got ${v}`);
      config.shapes = v as ShapeSet;
    } else if (flag === '--reps') config.reps = positive(flag, value());
    else if (flag === '--target-ms') config.targetMs = positive(flag, value());
    else if (flag === '--cases') {
      const cases = value().split(',');
      for (const c of cases) if (!['matmul', 'forward', 'train'].includes(c)) throw new Error(`bench: unknown case kind ${c} in --cases`);
      config.cases = cases as CaseKind[];
    } else if (flag === '--impls') config.impls = value().split(',');
    else if (flag === '--build') forceBuild = true;
    else if (flag === '--out') out = value();
    else throw new Error(`bench: unknown argument ${flag} (see the header of bench/run.ts)`);
  }
  return { config, build: forceBuild, out };
}

function positive(flag: string, v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`bench: ${flag} must be a positive number, got ${v}`);
  return n;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const out = resolve(args.out);
  const page = resolve('dist/bench.html');
  if (args.build || !existsSync(page)) {
    console.log(`${existsSync(page) ? '--build' : 'dist/bench.html is missing'}: building bench.html alone…`);
    // openPage serves ./dist of the working directory: point it at the private build.
    process.chdir(await buildBenchOnly());
  } else {
    console.log(`serving dist/ built ${statSync(page).mtime.toISOString()} (--build builds bench.html afresh)`);
  }
  const s = await openPage('/bench.html');
  s.page.on('console', (m) => {
    if (m.type() === 'log') console.log(m.text());
    else if (m.type() === 'error' || m.type() === 'warning') console.log(`[page ${m.type()}] ${m.text()}`);
  });
  let result: SuiteResult;
  try {
    await s.page.waitForFunction(() => 'bench' in window, null, { timeout: 60_000 });
    result = await s.page.evaluate((config) => (window as unknown as { bench: BenchPageApi }).bench.run(config), args.config);
  } finally {
    await s.close();
  }
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2) + '\n');
  console.log('\n' + markdownReport(result));
  console.log(`\nwrote ${out}`);
}

main().catch((e: Error) => {
  console.error(e.message);
  process.exit(1);
});
