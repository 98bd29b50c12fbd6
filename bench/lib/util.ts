/** Small shared helpers of the benchmarks: clocks, sleeping, statistics, payloads. */

/** Wall-clock milliseconds with sub-millisecond precision (the same clock the repeaters use). */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Nearest-rank percentile of already sorted values (p in 0..100); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export interface LatencySummary {
  count: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export function summarize(values: number[]): LatencySummary {
  const sorted = Float64Array.from(values).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return {
    count: sorted.length,
    p50_ms: round(percentile(sorted, 50)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted.length ? sorted[sorted.length - 1] : NaN),
    mean_ms: round(sorted.length ? sum / sorted.length : NaN),
  };
}

export function round(v: number, digits = 3): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

/**
 * A notification as the notifier would publish it (after ingress normalisation), with an
 * explicit id and timestamp; every target is unique so entries never collapse.
 */
export function notificationBody(target: string, id: string, available = false): Buffer {
  return Buffer.from(
    JSON.stringify({
      target,
      targetType: 'application',
      available,
      ...(available ? {} : { reason: 'maintenance' }),
      message: 'Scheduled maintenance of the mail cluster; back in about an hour.',
      operatorId: 'bench',
      source: 'operator',
      timestamp: new Date().toISOString(),
      id,
      priority: 0,
    }),
  );
}

/** Publish options as the notifier sets them. */
export function notifierOptions(id: string): { persistent: true; priority: number; messageId: string; timestamp: number; contentType: string } {
  return { persistent: true, priority: 0, messageId: id, timestamp: Math.floor(Date.now() / 1000), contentType: 'application/json' };
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs one part of a benchmark: logs its start and duration; a failure is recorded under its
 * name in `errors` (and the run goes on to the next part) instead of ending the whole run.
 */
export async function runSection<T>(log: (m: string) => void, name: string, errors: Record<string, string>, fn: () => Promise<T>): Promise<T | undefined> {
  const t0 = Date.now();
  log(`${name}: start`);
  try {
    const r = await fn();
    log(`${name}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return r;
  } catch (err) {
    errors[name] = errorMessage(err);
    log(`${name}: FAILED: ${errors[name]}`);
    return undefined;
  }
}

/** On Ctrl-C, SIGTERM or a crash, logs why, runs the benchmark's cleanup once, and exits. */
export function cleanUpOnExit(log: (m: string) => void, stopping: string, cleanup: () => Promise<unknown>): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      log(`${sig}: ${stopping} and cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  for (const ev of ['uncaughtException', 'unhandledRejection'] as const) {
    process.once(ev, (err: unknown) => {
      log(`${ev}: ${errorMessage(err)}; ${stopping} and cleaning up`);
      void cleanup().finally(() => process.exit(1));
    });
  }
}
