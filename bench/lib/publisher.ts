import type * as amqp from 'amqplib';
import { now, sleep } from './util';

export interface PacedMessage {
  exchange: string;
  routingKey: string;
  content: Buffer;
  options: amqp.Options.Publish;
}

export interface PaceOptions {
  /** Messages per second. */
  rate: number;
  count: number;
  /** Most unconfirmed publishes at once; the loop waits for confirms beyond it. */
  window: number;
  /** Builds message i (called just before it is due). */
  make: (i: number) => PacedMessage;
  /** Called with the send time of message i, taken just before publish. */
  onSend: (i: number, at: number) => void;
  /** Called once message i is confirmed (`err` undefined) or refused by the broker. */
  onSettle?: (i: number, err: unknown) => void;
}

export interface PaceResult {
  sent: number;
  confirmed: number;
  nacked: number;
  firstSend: number;
  lastSend: number;
  allConfirmedAt: number;
  /** Messages per second actually achieved: count / (lastSend - firstSend + one interval). */
  achievedRate: number;
  /** Times the loop had to wait because the window was full. */
  windowWaits: number;
}

/**
 * Publishes `count` persistent messages on a confirm channel at a fixed rate, on schedule
 * (message i is due at start + i / rate; late messages go out at once), keeping at most
 * `window` publishes unconfirmed and honouring the channel's back-pressure.
 */
export async function pacedPublish(ch: amqp.ConfirmChannel, o: PaceOptions): Promise<PaceResult> {
  let inFlight = 0;
  let confirmed = 0;
  let nacked = 0;
  let windowWaits = 0;
  let wake: (() => void) | undefined;
  const settle = (i: number, err: unknown): void => {
    o.onSettle?.(i, err);
    inFlight--;
    if (err) nacked++;
    else confirmed++;
    const w = wake;
    wake = undefined;
    w?.();
  };
  const waitConfirm = (): Promise<void> => new Promise((r) => (wake = r));
  const waitDrain = (): Promise<void> => new Promise((r) => ch.once('drain', () => r()));

  const start = now();
  const interval = 1000 / o.rate;
  let firstSend = NaN;
  let lastSend = NaN;
  let i = 0;
  while (i < o.count) {
    const due = Math.min(o.count, Math.floor((now() - start) / interval) + 1);
    let blocked = false;
    while (i < due) {
      if (inFlight >= o.window) {
        blocked = true;
        break;
      }
      const m = o.make(i);
      const at = now();
      o.onSend(i, at);
      if (i === 0) firstSend = at;
      lastSend = at;
      inFlight++;
      const n = i;
      const ok = ch.publish(m.exchange, m.routingKey, m.content, m.options, (err) => settle(n, err));
      i++;
      if (!ok) await waitDrain();
    }
    if (i >= o.count) break;
    if (blocked) {
      windowWaits++;
      await waitConfirm();
    } else {
      const nextDue = start + i * interval;
      await sleep(Math.max(0, Math.min(5, nextDue - now())));
    }
  }
  while (inFlight > 0) await waitConfirm();
  const allConfirmedAt = now();
  return {
    sent: i,
    confirmed,
    nacked,
    firstSend,
    lastSend,
    allConfirmedAt,
    achievedRate: i / ((lastSend - firstSend + interval) / 1000),
    windowWaits,
  };
}
