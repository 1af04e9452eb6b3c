import type { CaseKind, CaseResult, Measurement, SuiteConfig } from './protocol.ts';
import { median, type Timed } from './timed.ts';

/** One implementation of a case: how to build it here (it may throw: then it is reported, not hidden). */
export interface Contender {
  impl: string;
  make(): Promise<Timed>;
}

export interface CaseSpec {
  kind: CaseKind;
  label: string;
  flops: number;
  contenders: readonly Contender[];
  /** Error of a read-back result against an independent reference (max|got − ref| / max|ref|). */
  check(result: Float32Array, impl: string): number;
}

interface Live {
  contender: Contender;
  timed: Timed;
  /** The first timed iteration (ms): sets `iters` and the repetition count. */
  once: number;
  iters: number;
  ms: number[];
}

async function timeRun(t: Timed, iters: number): Promise<number> {
  const t0 = performance.now();
  await t.run(iters);
  return performance.now() - t0;
}

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0].slice(0, 200);
}

/**
 * Builds every contender, warms it up (pipeline compilation is not timed), checks its result, picks an
 * iteration count that lasts about `targetMs`, then times `reps` repetitions with the contenders
 * interleaved — the order rotates every repetition so drift on a shared machine hits everyone alike —
 * and reports medians.
 */
export async function measureCase(spec: CaseSpec, cfg: SuiteConfig, log: (msg: string) => void): Promise<CaseResult> {
  const live: Live[] = [];
  const results = new Map<string, Measurement>();
  const contenders = spec.contenders.filter((c) => !cfg.impls || cfg.impls.includes(c.impl));
  for (const c of contenders) {
    try {
      const timed = await c.make();
      try {
        await timed.run(1); // compiles pipelines, uploads lazily-created data
        const relErr = spec.check(await timed.read(), c.impl);
        const once = await timeRun(timed, 1);
        const iters = Math.max(1, Math.min(200, Math.round(cfg.targetMs / Math.max(once, 0.05))));
        live.push({ contender: c, timed, once, iters, ms: [] });
        results.set(c.impl, { impl: c.impl, ran: true, relErr, iters });
        log(`  ${spec.label} ${c.impl}: ready (first timed run ${once.toFixed(1)} ms, ${iters} iters/rep, rel err ${relErr.toExponential(1)})`);
      } catch (e) {
        timed.dispose();
        throw e;
      }
    } catch (e) {
      results.set(c.impl, { impl: c.impl, ran: false, reason: reason(e) });
      log(`  ${spec.label} ${c.impl}: cannot run here: ${reason(e)}`);
    }
  }
  // A case whose slowest contender needs seconds per iteration gets 3 repetitions, not cfg.reps: the CI
  // run on the software adapter stays within a few minutes; the median of 3 still drops one outlier.
  const slowest = Math.max(0, ...live.map((l) => l.once));
  const reps = slowest > 10 * cfg.targetMs ? Math.min(cfg.reps, 3) : cfg.reps;
  if (reps < cfg.reps) log(`  ${spec.label}: ${reps} repetitions (about ${(slowest / 1000).toFixed(1)} s per iteration)`);
  for (let rep = 0; rep < reps; rep++) {
    for (let j = 0; j < live.length; j++) {
      const l = live[(j + rep) % live.length];
      try {
        l.ms.push((await timeRun(l.timed, l.iters)) / l.iters);
      } catch (e) {
        results.set(l.contender.impl, { impl: l.contender.impl, ran: false, reason: `failed while timing: ${reason(e)}` });
      }
    }
  }
  for (const l of live) {
    l.timed.dispose();
    const r = results.get(l.contender.impl)!;
    if (!r.ran || l.ms.length === 0) continue;
    const med = median(l.ms);
    Object.assign(r, { msPerIter: l.ms, medianMs: med, gflops: spec.flops / (med * 1e6) });
  }
  return { kind: spec.kind, label: spec.label, flops: spec.flops, results: contenders.map((c) => results.get(c.impl)!) };
}
