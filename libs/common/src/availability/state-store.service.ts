import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { redisKeys } from '../contracts/topology';
import { AvailabilityState, StoredEntry } from '../domain/availability-state';
import { MetricsService } from '../metrics/metrics.service';
import { AuditLine, EntryRepository } from '../redis/entry.repository';
import { RateLimitedLog, retryTrouble } from '../messaging/retry';
import { expiredOf } from '../domain/retention';
import { AVAILABILITY_STATE, NODE_ENV, REDIS } from './tokens';

export type Via = AuditLine['via'];

/**
 * Backoff of the node's writes to Redis: one script call at a time per node, so retrying often is
 * cheap (4-8 refused calls a second while Redis refuses), and the backlog is stored within a
 * quarter second of Redis accepting writes again (bench:propagation, phase outage).
 */
export const STORE_BACKOFF = { baseMs: 25, capMs: 250 };

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
  private sweepTimer?: NodeJS.Timeout;
  private rewriting?: Promise<void>;
  private restored = false;
  private batch: Parameters<EntryRepository['put']>[0] = [];
  private waiters: (() => void)[] = [];
  private flushScheduled = false;
  private writing = 0;
  /** Per entry key, the write that will store its newest applied version. */
  private readonly pending = new Map<string, Promise<void>>();
  private readonly troubleLog = new RateLimitedLog(5000);
  /** Set while writes to Redis fail (the last error); cleared by the next write that succeeds. */
  writeTrouble?: string;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(AVAILABILITY_STATE) private readonly state: AvailabilityState,
    private readonly metrics: MetricsService,
  ) {
    this.repo = new EntryRepository(redis, redisKeys(env.FARM_NAMESPACE, env.NODE_ID), env.AUDIT_MAX);
  }

  private readonly troubleListeners: ((failing: boolean) => void)[] = [];

  /** Called with true when writes start failing and with false when they succeed again. */
  onWriteTrouble(fn: (failing: boolean) => void): void {
    this.troubleListeners.push(fn);
  }

  /** Whether the node cannot write its state now (Redis away, or refusing writes). */
  get degraded(): boolean {
    return this.writeTrouble !== undefined || this.redis.status !== 'ready';
  }

  /**
   * Persists entries that changed the cache, with their audit lines. Writes asked for in the same
   * event-loop turn go to Redis as one script call. The promise resolves once they are stored,
   * and never rejects: while Redis refuses or is away, the write is retried with capped, jittered
   * backoff for as long as the process lives (what the cache shows becomes durable before any ack).
   */
  persist(changed: StoredEntry[], via: Via, at: number): Promise<void> {
    if (changed.length === 0) return Promise.resolve();
    const keys: string[] = [];
    for (const s of changed) {
      const key = s.key;
      keys.push(key);
      this.batch.push({
        key,
        json: s.json,
        entry: s,
        audit: { at, node: this.env.NODE_ID, via, id: s.id, key, available: s.available, reason: s.reason, operatorId: s.operatorId, source: s.source, timestamp: s.timestamp },
      });
    }
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    for (const key of keys) this.pending.set(key, done);
    void done.then(() => {
      for (const key of keys) if (this.pending.get(key) === done) this.pending.delete(key);
    });
    this.schedule();
    return done;
  }

  /**
   * The write still on its way for a key, if any: a duplicate delivery that changes nothing in the
   * cache must still wait for it before its ack.
   */
  pendingFor(key: string): Promise<void> | undefined {
    return this.pending.size === 0 ? undefined : this.pending.get(key);
  }

  /**
   * While writes succeed, each event-loop turn's batch goes at once (the Lua write is last-writer-wins,
   * so concurrent calls commute); while they fail, one write is retried at a time and what arrives
   * meanwhile waits for it, so an outage never multiplies retry loops.
   */
  private schedule(): void {
    if (this.flushScheduled || (this.writing > 0 && this.writeTrouble !== undefined)) return;
    this.flushScheduled = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    if (this.batch.length === 0 || (this.writing > 0 && this.writeTrouble !== undefined)) return;
    this.writing++;
    const items = this.batch;
    const waiters = this.waiters;
    this.batch = [];
    this.waiters = [];
    try {
      await retryTrouble(
        async () => {
          const writes: Promise<number>[] = [];
          for (let i = 0; i < items.length; i += 500) writes.push(this.repo.put(items.slice(i, i + 500)));
          await Promise.all(writes);
        },
        { backoff: STORE_BACKOFF, onTrouble: (err) => this.noteWriteTrouble(err) },
      );
      if (this.writeTrouble !== undefined) {
        this.log.log(`Redis accepts writes again; ${items.length} entries stored`);
        this.writeTrouble = undefined;
        this.metrics.redisWritable.set(1);
        for (const l of this.troubleListeners) l(false);
      }
      waiters.forEach((w) => w());
    } finally {
      this.writing--;
      if (this.batch.length > 0) this.schedule();
    }
  }

  private noteWriteTrouble(err: unknown): void {
    const first = this.writeTrouble === undefined;
    this.writeTrouble = (err as Error)?.message ?? String(err);
    if (first) for (const l of this.troubleListeners) l(true);
    this.metrics.redisWritable.set(0);
    this.metrics.redisWriteFailures.inc();
    const line = this.troubleLog.next(`cannot write to Redis, retrying (the cache keeps serving): ${this.writeTrouble}`);
    if (line) this.log.warn(line);
  }

  /**
   * Drops entries that say "available" and are older than the retention window, from the cache
   * and from Redis (only the version it holds; audited as `expire`). Every node runs the same
   * rule, so digests agree once each has swept. Returns how many went.
   */
  async sweep(now = Date.now()): Promise<number> {
    const gone = expiredOf(this.state.stored(), now, this.env.RETENTION_MS, this.env.FUTURE_DROP_MS);
    if (gone.length === 0) return 0;
    for (const s of gone) this.state.remove(s);
    this.metrics.entries.set(this.state.count);
    this.metrics.expired.inc(gone.length);
    const at = Date.now();
    for (let i = 0; i < gone.length; i += 500) {
      const items = gone.slice(i, i + 500).map((s) => ({
        key: s.key,
        json: s.json,
        audit: { at, node: this.env.NODE_ID, via: 'expire' as const, id: s.id, key: s.key, available: s.available, source: s.source, timestamp: s.timestamp },
      }));
      await retryTrouble(() => this.repo.drop(items), { backoff: STORE_BACKOFF, onTrouble: (err) => this.noteWriteTrouble(err) });
    }
    this.log.log(`dropped ${gone.length} entries: "available" and older than the retention window (${this.env.RETENTION_MS} ms), or dated more than ${this.env.FUTURE_DROP_MS} ms ahead`);
    return gone.length;
  }

  /** Loads the node's entries from Redis into the cache; returns how many. */
  async restore(): Promise<number> {
    let n = 0;
    await this.repo.loadEach((e) => {
      this.state.apply(e);
      n++;
    });
    if (!(await this.repo.hasMarker())) await this.repo.setMarker(new Date().toISOString());
    await this.sweep();
    this.restored = true;
    this.metrics.redisWritable.set(1);
    this.metrics.entries.set(this.state.count);
    this.startWatch();
    return n;
  }

  private startWatch(): void {
    this.redis.on('ready', () => void this.checkLoss());
    this.watchTimer = setInterval(() => void this.checkLoss(), 2000);
    this.watchTimer.unref();
    this.sweepTimer = setInterval(() => void this.sweep().catch((err: Error) => this.log.warn(`retention sweep failed: ${err.message}`)), this.env.RETENTION_SWEEP_MS);
    this.sweepTimer.unref();
  }

  /** Writes everything back when the marker is gone (Redis restarted without persistence). */
  checkLoss(): Promise<void> {
    if (!this.restored || this.redis.status !== 'ready') return Promise.resolve();
    this.rewriting ??= (async () => {
      try {
        if (await this.repo.hasMarker()) return;
        const all = [...this.state.stored()];
        for (let i = 0; i < all.length; i += 1000) {
          await this.repo.put(all.slice(i, i + 1000).map((s) => ({ key: s.key, json: s.json, entry: s })));
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
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }
}
