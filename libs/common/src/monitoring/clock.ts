import type { ClockReading } from './compilation';

/**
 * A server's clock: the system clock plus a correction the poller sets (kept in Redis by its
 * owner, see `ClockCorrectionStore`). `skewMs` simulates a drifting hardware clock for tests and
 * demos; operators leave it at 0.
 */
export class FarmClock {
  constructor(
    public correctionMs = 0,
    private readonly skewMs = 0,
    private readonly systemNow: () => number = Date.now,
  ) {}

  /** Milliseconds since the epoch by this server's corrected clock. */
  now(): number {
    return this.systemNow() + this.skewMs + this.correctionMs;
  }

  /** ISO-8601 UTC with milliseconds: what notifications are stamped with. */
  stamp(): string {
    return new Date(this.now()).toISOString();
  }

  date(): Date {
    return new Date(this.now());
  }

  reading(): ClockReading {
    const epochMs = this.now();
    const offsetMinutes = -new Date(epochMs).getTimezoneOffset();
    return { local: formatLocal(epochMs, offsetMinutes), epochMs, offsetMinutes, correctionMs: this.correctionMs };
  }
}

const pad = (n: number, w = 2): string => String(n).padStart(w, '0');

/** ISO-8601 local time with the zone offset, e.g. `2026-11-24T15:30:00.000+05:30`. */
export function formatLocal(epochMs: number, offsetMinutes: number): string {
  const d = new Date(epochMs + offsetMinutes * 60_000);
  const sign = offsetMinutes < 0 ? '-' : '+';
  const abs = Math.abs(offsetMinutes);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}` +
    `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

export interface ClockEstimate {
  /** Server clock minus master clock, in ms (positive: the server runs ahead). */
  offsetMs: number;
  /** Round trip spent on the network and broker, the compile time excluded. */
  networkRttMs: number;
}

/**
 * Estimates a server's clock offset from one query (pure). The server read its clock just
 * before answering, after `compiledInMs` of work, so its reading corresponds to the master's
 * `receivedAt` minus half the network round trip; the zone is taken from the reading's own
 * offset, so a server in another zone is not mistaken for a drifting one.
 */
export function estimateOffset(sentAt: number, receivedAt: number, serverLocalIso: string, compiledInMs: number): ClockEstimate {
  const serverEpoch = Date.parse(serverLocalIso);
  const networkRttMs = Math.max(0, receivedAt - sentAt - compiledInMs);
  return { offsetMs: serverEpoch - (receivedAt - networkRttMs / 2), networkRttMs };
}

/** The largest adjustment one set-clock command may carry (the request DTO's range, either way). */
export const MAX_SET_CLOCK_MS = 86_400_000;

/**
 * The largest total correction an attendant may be configured to keep: half the command range,
 * so one set-clock can always move the correction from one end of the allowed range to the other.
 */
export const MAX_CLOCK_CORRECTION_MS = MAX_SET_CLOCK_MS / 2;

export interface BoundedCorrection {
  /** The new total correction, within ±maxMs. */
  correctionMs: number;
  /** True when the requested total lay beyond ±maxMs and was cut to the bound. */
  clamped: boolean;
}

/**
 * The total correction after a set-clock of `adjustMs` (pure): the requested total, rounded, cut
 * to ±`maxMs`. A correction already out of bounds (restored from an older run) is brought back
 * in by any command, and by `restoredCorrection` at start.
 */
export function boundedCorrection(currentMs: number, adjustMs: number, maxMs: number): BoundedCorrection {
  const wanted = Math.round(currentMs + adjustMs);
  const correctionMs = Math.max(-maxMs, Math.min(maxMs, wanted));
  return { correctionMs: correctionMs === 0 ? 0 : correctionMs, clamped: correctionMs !== wanted };
}

/** A correction read back from the store (pure): 0 when unreadable, else cut to ±`maxMs`. */
export function restoredCorrection(stored: string | null, maxMs: number): BoundedCorrection {
  const n = Number(stored ?? 0);
  if (!Number.isFinite(n)) return { correctionMs: 0, clamped: true };
  return boundedCorrection(n, 0, maxMs);
}

export interface ClockLimits {
  /** A clock further than this from the master's is corrected (CLOCK_MAX_DIFF_MS). */
  maxDiffMs: number;
  /** A sample whose network round trip is longer than this is not read as drift (CLOCK_MAX_RTT_MS). */
  maxRttMs: number;
}

/**
 * What to do about one clock sample:
 * - `ok`: the clock is within `maxDiffMs`;
 * - `correct`: send set-clock with `adjustMs` (the opposite offset, within one command's range);
 * - `uncertain`: the sample cannot tell drift from delay, nothing is done (`reason` says why).
 */
export type ClockVerdict = { action: 'ok' } | { action: 'correct'; adjustMs: number } | { action: 'uncertain'; reason: string };

/**
 * Judges one clock sample (pure), by the NTP rule: the offset's error is at most half the
 * network round trip, since the server's reading may lie anywhere within it (a query waiting in
 * a backlogged queue looks like a clock running ahead by half the wait). A sample with a round
 * trip above `maxRttMs` is not used; otherwise the clock is corrected only when its offset exceeds
 * both `maxDiffMs` and half the round trip.
 */
export function judgeClock(e: ClockEstimate, limits: ClockLimits): ClockVerdict {
  const rtt = Math.round(e.networkRttMs);
  const off = Math.round(e.offsetMs);
  if (!(e.networkRttMs <= limits.maxRttMs)) return { action: 'uncertain', reason: `round trip ${rtt} ms is above ${limits.maxRttMs} ms (CLOCK_MAX_RTT_MS): offset ${off} ms not trusted` };
  if (Math.abs(e.offsetMs) <= limits.maxDiffMs) return { action: 'ok' };
  if (Math.abs(e.offsetMs) <= e.networkRttMs / 2) return { action: 'uncertain', reason: `offset ${off} ms is within the measurement error (half the ${rtt} ms round trip)` };
  const adjustMs = Math.max(-MAX_SET_CLOCK_MS, Math.min(MAX_SET_CLOCK_MS, -off));
  return { action: 'correct', adjustMs };
}
