/**
 * Bounded state over years of notifications, identically on every node: entries that say
 * "available" carry no information once old (an absent entry means available too), so they are
 * dropped after the retention window; notifications older than the window, or further ahead of
 * the receiver's clock than allowed, are not taken in at all. Pure functions; the store applies them.
 */

/** What the retention rules read of an entry. */
export interface Aged {
  available: boolean;
  /** Timestamp, ms since the epoch. */
  ts: number;
}

/** Whether an entry is due to be dropped: it says "available" and is older than the window. */
export function isExpired(e: Aged, now: number, retentionMs: number): boolean {
  return e.available && e.ts < now - retentionMs;
}

/** Whether an entry received from a peer may be taken in: not expired, not too far in the future. */
export function isAdmissible(e: Aged, now: number, retentionMs: number, maxFutureMs: number): boolean {
  return !isExpired(e, now, retentionMs) && e.ts <= now + maxFutureMs;
}

/** The entries due to be dropped. */
export function expiredOf<T extends Aged>(entries: Iterable<T>, now: number, retentionMs: number): T[] {
  const out: T[] = [];
  for (const e of entries) if (isExpired(e, now, retentionMs)) out.push(e);
  return out;
}
