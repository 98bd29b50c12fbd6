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

/** What lookup needs of a stored entry; times are pre-parsed milliseconds (NaN when absent). */
export interface Decidable {
  key: string;
  ts: number;
  id: string;
  json: string;
  available: boolean;
  downAtMs: number;
  upAtMs: number;
  autoRestore: boolean;
  /** Decision when this entry takes the target down. */
  down: Decision;
  /** Decision while its down time is still ahead. */
  scheduled: Decision;
}

export const AVAILABLE: Decision = Object.freeze({ available: true }) as Decision;

/** The order of the contract: timestamp, then id, then canonical bytes. */
export function greater(a: Decidable, b: Decidable): boolean {
  if (a.ts !== b.ts) return a.ts > b.ts;
  if (a.id !== b.id) return a.id > b.id;
  return a.json > b.json;
}

/**
 * The lookup rule applied to the greatest candidate: none means available; a future `downAt`
 * leaves it available but scheduled; an `autoRestore` entry whose `expectedUpAt` has passed
 * leaves it available.
 */
export function decide(best: Decidable | undefined, now: number): Decision {
  if (best === undefined || best.available) return AVAILABLE;
  if (best.downAtMs > now) return best.scheduled;
  if (best.autoRestore && best.upAtMs <= now) return AVAILABLE;
  return best.down;
}
