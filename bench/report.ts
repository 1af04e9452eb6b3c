import type { CaseKind, CaseResult, Measurement, SuiteResult } from './protocol.ts';

/** The peers each case kind is compared against (the issue's targets: ≥ 1.0× the faster peer on matmul, ≥ 2× tfjs on the step). */
const PEERS = ['ort', 'tfjs'];

function fmt(m: Measurement | undefined): string {
  if (!m) return '—';
  if (!m.ran) return `n/a`;
  return m.gflops! >= 10 ? m.gflops!.toFixed(1) : m.gflops!.toFixed(3);
}

function ms(m: Measurement | undefined): string {
  if (!m?.ran || m.medianMs === undefined) return '—';
  return m.medianMs >= 100 ? m.medianMs.toFixed(0) : m.medianMs.toFixed(2);
}

/** Engine median time over the faster peer's: > 1 means the engine is faster. */
export function ratioToFasterPeer(c: CaseResult, engineImpl = 'engine'): { ratio: number; peer: string } | null {
  const engine = c.results.find((r) => r.impl === engineImpl);
  const peers = c.results.filter((r) => PEERS.includes(r.impl) && r.ran && r.medianMs !== undefined);
  if (!engine?.ran || engine.medianMs === undefined || peers.length === 0) return null;
  const fastest = peers.reduce((x, y) => (y.medianMs! < x.medianMs! ? y : x));
  return { ratio: fastest.medianMs! / engine.medianMs, peer: fastest.impl };
}

function table(kind: CaseKind, cases: CaseResult[]): string[] {
  const impls = [...new Set(cases.flatMap((c) => c.results.map((r) => r.impl)))];
  const unit = kind === 'matmul' ? 'GFLOPS' : kind === 'forward' ? 'ms' : 'ms/step';
  const head = ['shape', ...impls.map((i) => `${i} ${unit}`), 'engine / faster peer'];
  if (impls.includes('candidate')) head.push('candidate / faster peer');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const c of cases) {
    const byImpl = new Map(c.results.map((r) => [r.impl, r]));
    const cells = impls.map((i) => (kind === 'matmul' ? fmt(byImpl.get(i)) : ms(byImpl.get(i))));
    const r = ratioToFasterPeer(c);
    const row = [c.label, ...cells, r ? `${r.ratio.toFixed(2)}× (vs ${r.peer})` : 'n/a'];
    if (impls.includes('candidate')) {
      const rc = ratioToFasterPeer(c, 'candidate');
      row.push(rc ? `${rc.ratio.toFixed(2)}× (vs ${rc.peer})` : 'n/a');
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  return lines;
}

/** Markdown: one table per case kind, then correctness and what could not run. */
export function markdownReport(r: SuiteResult): string {
  const out: string[] = [];
  out.push(`Adapter: ${r.env.adapters.engine ?? '?'}${r.env.isSoftware ? ' (software)' : ''}; shapes: ${r.config.shapes}; ${r.config.reps} interleaved reps, medians; wall ${(r.wallMs / 1000).toFixed(0)} s`);
  out.push(`Versions: ${Object.entries(r.env.versions).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  const titles: Record<CaseKind, string> = {
    matmul: 'Matmul C[M,N] = A[M,K]·W (M×K×N), GFLOPS (higher is better)',
    forward: 'Student forward, ms per forward (lower is better)',
    train: 'Student training step (forward + backward + Adam), ms per step (lower is better)',
  };
  for (const kind of ['matmul', 'forward', 'train'] as const) {
    const cases = r.cases.filter((c) => c.kind === kind);
    if (cases.length === 0) continue;
    out.push('', `### ${titles[kind]}`, '', ...table(kind, cases));
  }
  const errors = r.cases.flatMap((c) => c.results.filter((m) => m.ran).map((m) => m.relErr ?? 0));
  if (errors.length) out.push('', `Worst relative error of any result against the float64 reference: ${Math.max(...errors).toExponential(2)}`);
  const skipped = r.cases.flatMap((c) => c.results.filter((m) => !m.ran).map((m) => `- ${c.kind} ${c.label} / ${m.impl}: ${m.reason}`));
  const notes = [...r.env.notes.map((n) => `- ${n}`), ...skipped];
  if (notes.length) out.push('', 'Notes:', ...[...new Set(notes)]);
  return out.join('\n');
}
