import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { redisKeys } from '../contracts/topology';
import { AvailabilityState, StoredEntry } from '../domain/availability-state';
import { MetricsService } from '../metrics/metrics.service';
import { AuditLine, EntryRepository } from '../redis/entry.repository';
import { AVAILABILITY_STATE, NODE_ENV, REDIS } from './tokens';

export type Via = AuditLine['via'];

/**
 * The node's durable state in Redis: last-writer-wins writes before any ack, restore at start,
 * and a watch that notices when Redis lost the node's state (restarted empty) and writes the
 * in-memory state back.
 */
@Injectable()
export class StateStoreService implements OnModuleDestroy {
  private readonly log = new Logger('StateStore');
  readonly repo: EntryRepository;
  private watchTimer?: NodeJS.Timeout;
  private rewriting?: Promise<void>;
  private restored = false;
  private batch: Parameters<EntryRepository['put']>[0] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private flushScheduled = false;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(AVAILABILITY_STATE) private readonly state: AvailabilityState,
    private readonly metrics: MetricsService,
  ) {
    this.repo = new EntryRepository(redis, redisKeys(env.FARM_NAMESPACE, env.NODE_ID), env.AUDIT_MAX);
  }

  /**
   * Persists entries that changed the cache, with their audit lines. Writes asked for in the same
   * event-loop turn go to Redis as one script call; each caller resolves when its batch is stored.
   */
  persist(changed: StoredEntry[], via: Via, at: number): Promise<void> {
    if (changed.length === 0) return Promise.resolve();
    for (const s of changed) {
      this.batch.push({
        key: s.key,
        json: s.json,
        entry: s.entry,
        audit: { at, node: this.env.NODE_ID, via, id: s.id, key: s.key, available: s.available, reason: s.entry.reason, operatorId: s.entry.operatorId, source: s.entry.source, timestamp: s.entry.timestamp },
      });
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    const items = this.batch;
    const waiters = this.waiters;
    this.batch = [];
    this.waiters = [];
    this.flushScheduled = false;
    const writes: Promise<number>[] = [];
    for (let i = 0; i < items.length; i += 500) writes.push(this.repo.put(items.slice(i, i + 500)));
    Promise.all(writes).then(
      () => waiters.forEach((w) => w.resolve()),
      (err: Error) => waiters.forEach((w) => w.reject(err)),
    );
  }

  /** Loads the node's entries from Redis into the cache; returns how many. */
  async restore(): Promise<number> {
    let n = 0;
    await this.repo.loadEach((e) => {
      this.state.apply(e);
      n++;
    });
    if (!(await this.repo.hasMarker())) await this.repo.setMarker(new Date().toISOString());
    this.restored = true;
    this.metrics.entries.set(this.state.count);
    this.startWatch();
    return n;
  }

  private startWatch(): void {
    this.redis.on('ready', () => void this.checkLoss());
    this.watchTimer = setInterval(() => void this.checkLoss(), 2000);
    this.watchTimer.unref();
  }

  /** Writes everything back when the marker is gone (Redis restarted without persistence). */
  checkLoss(): Promise<void> {
    if (!this.restored || this.redis.status !== 'ready') return Promise.resolve();
    this.rewriting ??= (async () => {
      try {
        if (await this.repo.hasMarker()) return;
        const all = [...this.state.stored()];
        for (let i = 0; i < all.length; i += 1000) {
          await this.repo.put(all.slice(i, i + 1000).map((s) => ({ key: s.key, json: s.json, entry: s.entry })));
        }
        await this.repo.setMarker(new Date().toISOString());
        this.metrics.redisRewrites.inc();
        this.log.warn(`Redis had lost this node's state; wrote ${all.length} entries back`);
      } catch (err) {
        this.log.warn(`cannot check Redis state: ${(err as Error).message}`);
      }
    })().finally(() => (this.rewriting = undefined));
    return this.rewriting;
  }

  onModuleDestroy(): void {
    if (this.watchTimer) clearInterval(this.watchTimer);
  }
}
