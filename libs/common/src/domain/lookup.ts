import { Reason } from './notification';

/** The answer to "may this request go ahead?". */
export interface Decision {
  available: boolean;
  reason?: Reason;
  message?: string;
  component?: string;
  expectedUpAt?: string;
  /** The deciding entry takes the target down at `downAt`, still ahead. */
  scheduled?: boolean;
  downAt?: string;
  /** Key and id of the deciding entry. */
  decidedBy?: { key: string; id: string };
}

/** What lookup needs of a stored entry; times are pre-parsed milliseconds (undefined when absent). */
export interface Decidable {
  key: string;
  ts: number;
  id: string;
  available: boolean;
  downAtMs: number | undefined;
  upAtMs: number | undefined;
  /** Only `true` counts (absent or false: no automatic return). */
  autoRestore?: boolean;
  /** Whether the decision depends on the time (a `downAt`, or `autoRestore` with `expectedUpAt`). */
  timed: boolean;
  /** Canonical bytes, only for breaking a tie of timestamp and id (computed when needed). */
  canonical(): string;
  /** Decision when this entry takes the target down (built on first use). */
  down(): Decision;
  /** Decision while its down time is still ahead (built on first use). */
  scheduled(): Decision;
}

export const AVAILABLE: Decision = Object.freeze({ available: true }) as Decision;

/** The order of the contract: timestamp, then id, then canonical bytes. */
export function greater(a: Decidable, b: Decidable): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.id !== b.id) return a.id > b.id;
  return a.canonical() > b.canonical();
}

/**
 * The lookup rule applied to the greatest candidate: none means available; a future `downAt`
 * leaves it available but scheduled; an `autoRestore` entry whose `expectedUpAt` has passed
 * leaves it available. The clock is read only when the deciding entry depends on it.
 */
export function decide(best: Decidable | undefined, now?: number): Decision {
  if (best === undefined || best.available) return AVAILABLE;
  if (!best.timed) return best.down();
  const t = now ?? Date.now();
  if (best.downAtMs !== undefined && best.downAtMs > t) return best.scheduled();
  if (best.autoRestore === true && best.upAtMs !== undefined && best.upAtMs <= t) return AVAILABLE;
  return best.down();
}
