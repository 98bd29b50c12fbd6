import { hostname } from 'node:os';
import type Redis from 'ioredis';
import { monitoringKeys } from '../contracts/topology';
import { FarmClock, MAX_CLOCK_CORRECTION_MS, restoredCorrection } from './clock';

const FOLLOW_EVERY_MS = 10_000;

/**
 * Keeps a FarmClock in step with the correction the poller set for this server (through its
 * attendant, in Redis), so every app on the server stamps notifications with the same
 * corrected clock. Best effort: without Redis the clock is the system clock. A stored value
 * beyond the largest correction an attendant may keep (MAX_CLOCK_CORRECTION_MS) is cut to it.
 */
export class ClockFollower {
  readonly clock = new FarmClock();
  private timer?: NodeJS.Timeout;
  private readonly key: string;

  constructor(private readonly redis: Redis, ns: string, readonly serverId: string) {
    this.key = monitoringKeys(ns).clock(serverId);
  }

  start(everyMs = FOLLOW_EVERY_MS): void {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async refresh(): Promise<void> {
    if (this.redis.status !== 'ready' && this.redis.status !== 'wait') return;
    try {
      const stored = await this.redis.get(this.key);
      if (Number.isFinite(Number(stored ?? 0))) this.clock.correctionMs = restoredCorrection(stored, MAX_CLOCK_CORRECTION_MS).correctionMs;
    } catch {
      // Redis away: keep the last correction.
    }
  }
}

/** The id this host goes by for its clock: SERVER_ID, else the given fallback, else the host name. */
export function clockServerId(serverId: string | undefined, fallback?: string): string {
  return serverId ?? fallback ?? hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
}
