/**
 * Live fan-out of stored events to open streams. Events reach the hub only after they are in
 * SQLite, and a stream subscribes before it replays from SQLite in the same tick, so a stream sees
 * every event exactly once: old ones from the replay, new ones from the hub (deduplicated by cursor).
 */
import type { StoredEvent } from './store.ts';

type Listener = (e: StoredEvent) => void;

interface Subscription {
  jobs: ReadonlySet<string> | null; // null = every job
  listener: Listener;
}

export class EventHub {
  private readonly subs = new Set<Subscription>();

  /** Returns the unsubscribe function. */
  subscribe(listener: Listener, jobs: ReadonlySet<string> | null = null): () => void {
    const sub = { jobs, listener };
    this.subs.add(sub);
    return () => this.subs.delete(sub);
  }

  publish(events: readonly StoredEvent[]): void {
    for (const e of events)
      for (const sub of [...this.subs]) if (!sub.jobs || sub.jobs.has(e.event.job)) sub.listener(e);
  }

  get size(): number {
    return this.subs.size;
  }
}
