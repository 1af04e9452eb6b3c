/**
 * One worker process under supervision: its stdout read as lines, the last 64 KiB of stderr kept
 * for the failure message, control lines written to stdin, and stop = SIGTERM then SIGKILL after a
 * grace period. The worker leads its own process group so torchrun's ranks get the signals too.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { JobAction } from '../core/session.ts';
import type { Launch } from './executor.ts';
import { controlLine } from './protocol.ts';

export const STDERR_TAIL_BYTES = 64 * 1024;

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderrTail: string;
  /** Whether the runner sent SIGKILL after the grace period. */
  killed: boolean;
}

export class WorkerProcess {
  readonly exited: Promise<WorkerExit>;
  private readonly child: ChildProcess;
  private stderr = Buffer.alloc(0);
  private killTimer: NodeJS.Timeout | null = null;
  private killed = false;
  private done = false;

  constructor(launch: Launch, onLine: (line: string) => void) {
    this.child = spawn(launch.command, launch.args, {
      cwd: launch.cwd,
      env: { ...process.env, ...launch.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true, // own process group: signals reach torchrun's children
    });
    this.child.stdin!.on('error', () => {}); // EPIPE when the worker is gone; exit handling reports it
    createInterface({ input: this.child.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      if (line.trim()) onLine(line);
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      const all = Buffer.concat([this.stderr, chunk]);
      this.stderr = all.length > STDERR_TAIL_BYTES ? all.subarray(all.length - STDERR_TAIL_BYTES) : all;
    });
    this.exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (this.done) return;
        this.done = true;
        if (this.killTimer) clearTimeout(this.killTimer);
        resolve({ code, signal, stderrTail: this.stderrTail(), killed: this.killed });
      };
      // 'close' waits for stdout to drain, so every line is read before the exit is reported.
      this.child.on('close', finish);
      this.child.on('error', (e) => {
        this.stderr = Buffer.concat([this.stderr, Buffer.from(`\n${launch.command}: ${e.message}\n`)]);
        finish(null, null);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  control(action: JobAction): void {
    if (!this.done) this.child.stdin!.write(controlLine(action));
  }

  /** SIGTERM (the worker checkpoints and exits), then SIGKILL if it is still there after `graceMs`. */
  stop(graceMs: number): void {
    if (this.done) return;
    this.signal('SIGTERM');
    this.killTimer ??= setTimeout(() => this.kill(), graceMs);
  }

  kill(): void {
    if (this.done) return;
    this.killed = true;
    this.signal('SIGKILL');
  }

  /** The stderr tail as text, starting at a line boundary when it was cut. */
  stderrTail(): string {
    const text = this.stderr.toString('utf8');
    if (this.stderr.length < STDERR_TAIL_BYTES) return text;
    const nl = text.indexOf('\n');
    return nl >= 0 ? text.slice(nl + 1) : text;
  }

  private signal(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        this.child.kill(sig);
      } catch {
        // already gone
      }
    }
  }
}

/** Kill a worker left by a previous runner, if `pid` is still that worker (its command names `jobDir`). */
export async function killOrphan(pid: number, jobDir: string, graceMs: number): Promise<boolean> {
  if (!isAlive(pid) || !(await commandLineOf(pid)).includes(jobDir)) return false;
  signalGroup(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (isAlive(pid)) signalGroup(pid, 'SIGKILL');
  const killDeadline = Date.now() + 5000;
  while (isAlive(pid) && Date.now() < killDeadline) await new Promise((r) => setTimeout(r, 20));
  return true;
}

/** Alive and not a zombie (a container's PID 1 may never reap the orphans it inherits). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): kill(0) is all we know
  }
}

function signalGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  }
}

async function commandLineOf(pid: number): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  try {
    return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).replaceAll('\0', ' ');
  } catch {
    const { execFileSync } = await import('node:child_process');
    try {
      return execFileSync('ps', ['-o', 'command=', '-p', String(pid)], { encoding: 'utf8' });
    } catch {
      return '';
    }
  }
}
