import { Notification } from '../domain/notification';

/** Most notifications in one re-broadcast message. */
export const MAX_BATCH = 500;
/**
 * Upper bound of one normalised notification's JSON: every field is bounded by the contract
 * (message 1000 characters, 32 request kinds of 64, ids of 128...), so even with every character
 * escaped it stays below this (a unit test builds the largest one).
 */
export const MAX_NORMALISED_BYTES = 16 * 1024;
/** Largest re-broadcast body a node parses: a full batch of the largest notifications. */
export const MAX_REBROADCAST_BYTES = MAX_BATCH * MAX_NORMALISED_BYTES + 64;

/** Body of a re-broadcast: one notification, or several taken in the same event-loop turn. */
export function encodeRebroadcast(batch: Notification[]): Buffer {
  return Buffer.from(JSON.stringify(batch.length === 1 ? batch[0] : { notifications: batch }));
}

/** The notifications of a re-broadcast body (a batch, or a single notification). */
export function decodeRebroadcast(value: unknown): unknown[] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 1 && Array.isArray((value as { notifications?: unknown }).notifications)) {
    return (value as { notifications: unknown[] }).notifications;
  }
  return [value];
}

/**
 * Coalesces re-broadcasts: notifications handed over in the same event-loop turn leave as one
 * confirmed message (highest priority of the batch), so the broker's cost per notification
 * falls as the rate rises, while a lone notification leaves at once. Each caller resolves when
 * the message carrying its notification is confirmed, and rejects if it is not.
 */
export class FanoutBatcher {
  private batch: Notification[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;

  /**
   * `soon`: leave once the current callback and its promise jobs are done (process.nextTick), not
   * at the end of the event-loop turn: an urgent lane's message then goes before the ordinary
   * work queued for that turn; notifications taken from the same socket read still share it.
   */
  constructor(
    private readonly send: (body: Buffer, priority: number, count: number) => Promise<void>,
    private readonly soon = false,
  ) {}

  add(n: Notification): Promise<void> {
    this.batch.push(n);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.batch.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      if (this.soon) process.nextTick(() => this.flush());
      else setImmediate(() => this.flush());
    }
    return p;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.batch.length === 0) return;
    const batch = this.batch;
    const waiters = this.waiters;
    this.batch = [];
    this.waiters = [];
    const priority = batch.reduce((m, n) => Math.max(m, n.priority), 0);
    this.send(encodeRebroadcast(batch), priority, batch.length).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    );
  }
}
