import { Inject, Injectable, Logger, OnModuleInit } from '@nestjs/common';
import Redis from 'ioredis';
import { AttendantEnv, FarmClock, REDIS, monitoringKeys } from '@farm/common';
import { ATTENDANT_ENV } from '../tokens';

const LOAD_WAIT_MS = 3000;

/**
 * This server's clock: system time plus the correction the poller set, kept in Redis so it
 * survives a restart (and so this server's other apps can stamp with the same clock).
 */
@Injectable()
export class ClockService implements OnModuleInit {
  readonly clock: FarmClock;
  private readonly key: string;
  private readonly log = new Logger('Clock');
  private adjusted = false;

  constructor(@Inject(ATTENDANT_ENV) env: AttendantEnv, @Inject(REDIS) private readonly redis: Redis) {
    this.clock = new FarmClock(0, env.CLOCK_SKEW_MS);
    this.key = monitoringKeys(env.FARM_NAMESPACE).clock(env.SERVER_ID);
  }

  /** Restores the correction; if Redis is slow to answer, starts uncorrected and applies it when it comes. */
  async onModuleInit(): Promise<void> {
    const load = this.redis.get(this.key).then((v) => {
      const ms = Number(v ?? 0);
      if (!this.adjusted && Number.isFinite(ms)) this.clock.correctionMs = ms;
      if (ms) this.log.log(`clock correction ${ms} ms restored`);
    });
    await Promise.race([load.catch(() => undefined), new Promise((r) => setTimeout(r, LOAD_WAIT_MS).unref())]);
  }

  /** Applies a set-clock command: shifts the correction by `adjustMs` and persists it. */
  async adjust(adjustMs: number, by = 'unknown'): Promise<number> {
    this.adjusted = true;
    this.clock.correctionMs = Math.round(this.clock.correctionMs + adjustMs);
    await this.redis.set(this.key, String(this.clock.correctionMs));
    this.log.log(`clock set by ${by}: adjusted ${Math.round(adjustMs)} ms, correction now ${this.clock.correctionMs} ms`);
    return this.clock.correctionMs;
  }
}
