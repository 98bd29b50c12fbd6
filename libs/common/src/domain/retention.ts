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

/**
 * Whether an entry is due to be dropped: it says "available" and is older than the window, or it
 * is dated more than `futureDropMs` ahead, which no current node accepts (only an older version
 * could have let it in, and it would win every later comparison). `futureDropMs` is far larger
 * than the ingress bound plus any clock difference, so no node ever drops what another accepted.
 */
export function isExpired(e: Aged, now: number, retentionMs: number, futureDropMs = Infinity): boolean {
  return (e.available && e.ts < now - retentionMs) || e.ts > now + futureDropMs;
}

/** Whether an entry received from a peer may be taken in: not expired, not too far in the future. */
export function isAdmissible(e: Aged, now: number, retentionMs: number, maxFutureMs: number): boolean {
  return !isExpired(e, now, retentionMs) && e.ts <= now + maxFutureMs;
}

/** The entries due to be dropped. */
export function expiredOf<T extends Aged>(entries: Iterable<T>, now: number, retentionMs: number, futureDropMs = Infinity): T[] {
  const out: T[] = [];
  for (const e of entries) if (isExpired(e, now, retentionMs, futureDropMs)) out.push(e);
  return out;
}
