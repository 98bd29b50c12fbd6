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

/** When a re-broadcast waits for company: never, or `maxMs` while the lane runs at `minRate` per second or more. */
export interface LingerPolicy {
  /** How long a batch stays open once the rate calls for it (0: never). */
  maxMs: number;
  /** Notifications per second (this lane, this node) from which batches linger. */
  minRate: number;
}

/** No lingering: each event-loop turn's notifications leave at the end of the turn. */
export const NO_LINGER: LingerPolicy = { maxMs: 0, minRate: Infinity };

/** Time constant of the rate estimate: it follows a change of rate within about this long. */
export const RATE_TAU_MS = 100;

/**
 * The arrival rate as an exponentially decayed count: `score` decays by e every `tauMs` and
 * each arrival adds one, so at a steady rate r per second it settles at r * tauMs / 1000.
 */
export function decayed(score: number, elapsedMs: number, tauMs: number): number {
  return elapsedMs <= 0 ? score : score * Math.exp(-elapsedMs / tauMs);
}

/** Per-second rate of a decayed score (see `decayed`). */
export function rateOf(score: number, tauMs: number): number {
  return (score * 1000) / tauMs;
}

/** How long a batch opened now stays open: `maxMs` from `minRate` on, else 0 (it leaves at the end of the turn). */
export function lingerFor(ratePerS: number, p: LingerPolicy): number {
  return p.maxMs > 0 && ratePerS >= p.minRate ? p.maxMs : 0;
}

export interface FanoutBatcherOptions {
  /**
   * Leave once the current callback and its promise jobs are done (process.nextTick), not at the
   * end of the event-loop turn: an urgent lane's message then goes before the ordinary work
   * queued for that turn; notifications taken from the same socket read still share it. Never
   * lingers.
   */
  soon?: boolean;
  linger?: LingerPolicy;
  /** Milliseconds, monotonic (tests pass their own). */
  now?: () => number;
}

/**
 * Coalesces re-broadcasts, adapting to the rate. Notifications handed over in the same
 * event-loop turn leave as one confirmed message (highest priority of the batch); a lone
 * notification leaves at once. Once the lane's recent rate reaches the policy's `minRate`, a
 * batch stays open `maxMs` (or until it is full), so the broker's work per notification falls as
 * the rate rises instead of every notification costing it a message, a routing to every node
 * queue, their deliveries and acks. Each caller resolves when the message carrying its
 * notification is confirmed, and rejects if it is not.
 */
export class FanoutBatcher {
  private batch: Notification[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private scheduled = false;
  private timer?: NodeJS.Timeout;
  private score = 0;
  private lastAt = 0;
  private readonly soon: boolean;
  private readonly linger: LingerPolicy;
  private readonly now: () => number;

  constructor(
    private readonly send: (body: Buffer, priority: number, count: number) => Promise<void>,
    options: FanoutBatcherOptions = {},
  ) {
    this.soon = options.soon ?? false;
    this.linger = this.soon ? NO_LINGER : (options.linger ?? NO_LINGER);
    this.now = options.now ?? (() => performance.now());
  }

  /** The lane's recent rate, notifications per second. */
  get rate(): number {
    return rateOf(decayed(this.score, this.now() - this.lastAt, RATE_TAU_MS), RATE_TAU_MS);
  }

  add(n: Notification): Promise<void> {
    if (this.linger.maxMs > 0) {
      const t = this.now();
      this.score = decayed(this.score, t - this.lastAt, RATE_TAU_MS) + 1;
      this.lastAt = t;
    }
    this.batch.push(n);
    const p = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.batch.length >= MAX_BATCH) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      const wait = this.linger.maxMs > 0 ? lingerFor(rateOf(this.score, RATE_TAU_MS), this.linger) : 0;
      if (wait > 0) this.timer = setTimeout(() => this.flush(), wait);
      else if (this.soon) process.nextTick(() => this.flush());
      else setImmediate(() => this.flush());
    }
    return p;
  }

  private flush(): void {
    this.scheduled = false;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
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
