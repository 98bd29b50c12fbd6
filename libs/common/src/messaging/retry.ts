import { PoisonMessageError } from '../domain/errors';

/**
 * The poison/trouble rule, as small named policies. Poison is input that can never succeed: it
 * is refused (dead-lettered with its reason) at once. Everything else is trouble with a
 * dependency (Redis refusing writes or away, the broker refusing a publish, a peer silent): the
 * same work is retried, with capped and jittered backoff, for as long as it takes.
 */
export function isPoison(err: unknown): err is PoisonMessageError {
  return err instanceof PoisonMessageError;
}

export interface BackoffSettings {
  /** First delay, in ms. */
  baseMs: number;
  /** Largest delay, in ms, however many attempts failed. */
  capMs: number;
}

/** 50 ms doubling to 1 s: a recovered dependency is used again within a second. */
export const DEFAULT_BACKOFF: BackoffSettings = { baseMs: 50, capMs: 1000 };

/**
 * Delay before retry number `attempt` (0-based): exponential up to the cap, with "equal jitter"
 * (half fixed, half random), so many consumers retrying the same dependency spread out but none
 * waits much less than the schedule says. `random` is injectable for tests.
 */
export function backoffDelay(attempt: number, s: BackoffSettings = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(s.capMs, s.baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface RetryOptions {
  backoff?: BackoffSettings;
  /** Checked before each retry: false stops retrying (the work is moot, e.g. its delivery is gone). */
  keepGoing?: () => boolean;
  /** Called on every failure that will be retried (for logs, metrics, health). */
  onTrouble?: (err: unknown, attempt: number) => void;
}

/**
 * Runs `work` until it succeeds. Poison is rethrown at once; trouble is retried with backoff
 * until `keepGoing` says stop, in which case the last error is rethrown.
 */
export async function retryTrouble<T>(work: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      if (isPoison(err)) throw err;
      opts.onTrouble?.(err, attempt);
      if (opts.keepGoing && !opts.keepGoing()) throw err;
      await sleep(backoffDelay(attempt, opts.backoff));
      if (opts.keepGoing && !opts.keepGoing()) throw err;
    }
  }
}

/** Logs at most one line per `everyMs` for a repeating complaint, saying how many were folded. */
export class RateLimitedLog {
  private last = -Infinity;
  private folded = 0;
  constructor(private readonly everyMs = 5000) {}

  /** Returns the line to log now (with the count folded since the last one), or undefined. */
  next(line: string, now = Date.now()): string | undefined {
    if (now - this.last < this.everyMs) {
      this.folded++;
      return undefined;
    }
    const out = this.folded > 0 ? `${line} (and ${this.folded} more like it)` : line;
    this.last = now;
    this.folded = 0;
    return out;
  }
}

/**
 * Writes the latest of a value that keeps changing, one write at a time, retrying trouble until it
 * succeeds: a write asked for while another is on its way waits for the next one, which carries
 * the newest value, so an older value retried late can never overwrite a newer one.
 */
export class LatestWriter<T> {
  private latest?: { value: T };
  private running?: Promise<void>;
  private waiters: (() => void)[] = [];

  constructor(
    private readonly write: (value: T) => Promise<void>,
    private readonly opts: RetryOptions = {},
  ) {}

  /** Resolves once this value, or a newer one, is written. */
  save(value: T): Promise<void> {
    this.latest = { value };
    const done = new Promise<void>((r) => this.waiters.push(r));
    this.running ??= this.drain().finally(() => (this.running = undefined));
    return done;
  }

  private async drain(): Promise<void> {
    while (this.latest) {
      const { value } = this.latest;
      const waiters = this.waiters;
      this.latest = undefined;
      this.waiters = [];
      await retryTrouble(() => this.write(value), this.opts);
      waiters.forEach((w) => w());
    }
  }
}
