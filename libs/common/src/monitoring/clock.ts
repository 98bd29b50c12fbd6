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
