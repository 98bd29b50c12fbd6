import type Redis from 'ioredis';
import { refusalsKey } from '../contracts/topology';

/** One refused command or re-broadcast, as operators see it on the poller's feed (`refusal` events). */
export interface RefusalEvent {
  /** Stream id in Redis (`<ms>-<seq>`), increasing. */
  id?: string;
  /** ISO time the receiver refused it. */
  at: string;
  /** The process that refused it (node, attendant or poller id). */
  receiver: string;
  /** The command (`ring-replace`, `attendant.request`, ..., or `rebroadcast`). */
  command: string;
  /** Why, in one word: forged, stale, replayed, unknown-key, malformed, wrong-receiver, origin... */
  reason: string;
  message: string;
  /** Who it claimed to come from (unverified). */
  claimedSender?: string;
}

/** Most events the stream keeps (approximately: Redis trims in whole nodes). */
export const REFUSALS_KEPT = 1000;

/**
 * Where refusals go so that operators hear of them: a capped Redis stream per farm that every
 * process appends to and the poller's feed follows. Appending never waits and never throws (a
 * refusal is already logged and counted where it happened); a flood is cut to `perSecond` events
 * a second per process, and the events left out are counted in the next one's message.
 */
export class RefusalLog {
  private windowStart = 0;
  private inWindow = 0;
  private dropped = 0;

  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
    private readonly perSecond = 20,
    private readonly now: () => number = Date.now,
  ) {}

  record(e: Omit<RefusalEvent, 'at' | 'id'>): void {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.perSecond) {
      this.dropped++;
      return;
    }
    this.inWindow++;
    const message = this.dropped > 0 ? `${e.message} (and ${this.dropped} more refusals not listed)` : e.message;
    this.dropped = 0;
    const event: RefusalEvent = { at: new Date(t).toISOString(), ...e, message: message.slice(0, 500) };
    this.redis.xadd(refusalsKey(this.ns), 'MAXLEN', '~', String(REFUSALS_KEPT), '*', 'event', JSON.stringify(event)).catch(() => undefined);
  }
}

/** Parses the stream's entries (malformed ones are skipped). */
export function refusalEvents(entries: [string, string[]][]): RefusalEvent[] {
  const out: RefusalEvent[] = [];
  for (const [id, fields] of entries) {
    const i = fields.indexOf('event');
    if (i < 0 || i + 1 >= fields.length) continue;
    try {
      const e = JSON.parse(fields[i + 1]) as RefusalEvent;
      if (typeof e.command === 'string' && typeof e.reason === 'string') out.push({ ...e, id });
    } catch {
      // Not ours: skip it.
    }
  }
  return out;
}

/**
 * Follows the refusals stream from now on: `poll()` returns the events appended since the last
 * call (the first call only finds where the stream ends). Errors propagate (the caller retries).
 */
export class RefusalFollower {
  private last?: string;

  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
  ) {}

  async poll(count = 100): Promise<RefusalEvent[]> {
    const key = refusalsKey(this.ns);
    if (this.last === undefined) {
      const tail = (await this.redis.xrevrange(key, '+', '-', 'COUNT', 1)) as [string, string[]][];
      this.last = tail[0]?.[0] ?? '0-0';
      return [];
    }
    const entries = (await this.redis.xrange(key, `(${this.last}`, '+', 'COUNT', count)) as [string, string[]][];
    if (entries.length > 0) this.last = entries[entries.length - 1][0];
    return refusalEvents(entries);
  }
}

/** The latest `limit` refusals of the farm, newest first. */
export async function recentRefusals(redis: Redis, ns: string, limit: number): Promise<RefusalEvent[]> {
  return refusalEvents((await redis.xrevrange(refusalsKey(ns), '+', '-', 'COUNT', limit)) as [string, string[]][]);
}
