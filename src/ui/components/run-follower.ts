import type { ReactiveController, ReactiveControllerHost } from 'lit';
import type { DistillSession } from '../../core/session.ts';
import { isTerminalState } from '../../core/telemetry.ts';
import { readCheckpoint } from './checkpoint-files.ts';
import { foldEvent, type RunRecord } from './run-model.ts';
import { saveCheckpointFiles, saveRun } from './run-store.ts';

const SAVE_EVERY_MS = 2000;

/**
 * Follows one job's telemetry into a RunRecord: the host re-renders at most once per animation frame
 * (a fast job must not flood the main thread), the record is saved to IndexedDB on state changes
 * and every few seconds, and each checkpoint of a job of this tab is copied into IndexedDB so it
 * survives a reload. Following stops when the host disconnects or another run is followed.
 */
export class RunFollower implements ReactiveController {
  run: RunRecord | null = null;
  /** Last failure while following (shown by the host where the run is shown). */
  error = '';
  private generation = 0;
  private frame = 0;
  private lastSave = 0;

  constructor(private readonly host: ReactiveControllerHost) {
    host.addController(this);
  }

  hostDisconnected(): void {
    this.generation++;
    cancelAnimationFrame(this.frame);
    this.frame = 0;
  }

  /** Show `run` without following it (a stored run after a reload). */
  show(run: RunRecord | null): void {
    this.generation++;
    this.run = run;
    this.error = '';
    this.host.requestUpdate();
  }

  /** Follow `run`'s job on `session` from the last event it has seen. */
  async follow(session: DistillSession, run: RunRecord): Promise<void> {
    this.show(run);
    const mine = this.generation;
    await saveRun(run);
    try {
      for await (const e of session.events(run.job, run.lastSeq)) {
        if (mine !== this.generation) return;
        const important = foldEvent(run, e);
        if (e.type === 'checkpoint' && run.mode === 'local') await this.keepCheckpoint(session, run, e.step);
        if (important || Date.now() - this.lastSave > SAVE_EVERY_MS) await this.save(run);
        this.schedule();
        if (e.type === 'state' && isTerminalState(e.state)) break;
      }
    } catch (e) {
      if (mine === this.generation) this.error = (e as Error).message;
    }
    await this.save(run);
    this.schedule();
  }

  private async keepCheckpoint(session: DistillSession, run: RunRecord, step: number): Promise<void> {
    try {
      const files = await readCheckpoint(session, run.job, step);
      await saveCheckpointFiles(run.id, step, files);
      // The engine's checkpoint event carries no size: the files say it.
      const entry = run.checkpoints.find((c) => c.step === step);
      if (entry && !entry.bytes) entry.bytes = [...files.values()].reduce((n, f) => n + f.byteLength, 0);
    } catch (e) {
      this.error = `checkpoint step ${step} was not kept for reloads: ${(e as Error).message}`;
    }
  }

  private async save(run: RunRecord): Promise<void> {
    this.lastSave = Date.now();
    await saveRun(run);
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.host.requestUpdate();
    });
  }
}
