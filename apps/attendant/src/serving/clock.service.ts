import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { AttendantEnv, FarmClock, LatestWriter, REDIS, boundedCorrection, monitoringKeys, restoredCorrection, safe } from '@farm/common';
import { ATTENDANT_ENV } from '../tokens';

const LOAD_WAIT_MS = 3000;

/** What a set-clock did. */
export interface AdjustResult {
  correctionMs: number;
  /** The requested total lay beyond CLOCK_MAX_CORRECTION_MS and was cut to it. */
  clamped: boolean;
}

/**
 * This server's clock: system time plus the correction the poller set, kept in Redis so it
 * survives a restart (and so this server's other apps can stamp with the same clock). The total
 * correction never leaves ±CLOCK_MAX_CORRECTION_MS: commands that would take it further are
 * clamped, and a stored value beyond it (an older run, a lowered bound) is cut at start.
 */
@Injectable()
export class ClockService implements OnModuleInit {
  readonly clock: FarmClock;
  private readonly key: string;
  private readonly log = new Logger('Clock');
  private adjusted = false;
  private readonly maxMs: number;
  private readonly store = new LatestWriter<number>((ms) => this.redis.set(this.key, String(ms)).then(() => undefined), {
    onTrouble: (err, attempt) => attempt % 20 === 0 && this.log.warn(`cannot store the clock correction yet, retrying: ${(err as Error).message}`),
  });

  constructor(@Inject(ATTENDANT_ENV) env: AttendantEnv, @Inject(REDIS) private readonly redis: Redis) {
    this.clock = new FarmClock(0, env.CLOCK_SKEW_MS);
    this.maxMs = env.CLOCK_MAX_CORRECTION_MS;
    this.key = monitoringKeys(env.FARM_NAMESPACE).clock(env.SERVER_ID);
  }

  /** Restores the correction; if Redis is slow to answer, starts uncorrected and applies it when it comes. */
  async onModuleInit(): Promise<void> {
    const load = this.redis.get(this.key).then(async (v) => {
      if (this.adjusted) return;
      const { correctionMs, clamped } = restoredCorrection(v, this.maxMs);
      this.clock.correctionMs = correctionMs;
      if (clamped) {
        this.log.warn(`stored clock correction ${safe(v)} is beyond ±${this.maxMs} ms (CLOCK_MAX_CORRECTION_MS): using ${correctionMs} ms`);
        await this.redis.set(this.key, String(correctionMs));
      } else if (correctionMs) this.log.log(`clock correction ${correctionMs} ms restored`);
    });
    await Promise.race([load.catch(() => undefined), new Promise((r) => setTimeout(r, LOAD_WAIT_MS).unref())]);
  }

  /** Applies a set-clock command: shifts the correction by `adjustMs` (clamped to the bound) and persists it. */
  async adjust(adjustMs: number, by = 'unknown'): Promise<AdjustResult> {
    this.adjusted = true;
    const result = boundedCorrection(this.clock.correctionMs, adjustMs, this.maxMs);
    this.clock.correctionMs = result.correctionMs;
    // Applied once, here; storing it is retried on trouble (latest value wins), so a Redis outage
    // delays the answer but never applies the same command twice.
    await this.store.save(result.correctionMs);
    const limit = result.clamped ? ` (clamped to CLOCK_MAX_CORRECTION_MS ±${this.maxMs} ms)` : '';
    this.log.log(`clock set by ${safe(by)}: asked ${Math.round(adjustMs)} ms, correction now ${result.correctionMs} ms${limit}`);
    return result;
  }
}
