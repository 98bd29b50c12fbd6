import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import Redis from 'ioredis';
import { Observable, Subject, lastValueFrom } from 'rxjs';
import {
  ATTENDANT_COMMAND, AMQP_CLIENT, AmqpClient, COMMAND_SIGNER, CommandSigner, FarmRecord, SIGNATURE_HEADER, LatestWriter, LeaderLease, MetricsService, Notification, PersistedHealth, Poller, PollerEnv, PollerStore, REDIS, RateLimitedLog, FarmClient, ServerEvent, ServerRecord, retryTrouble,
  Compilation, RefusalEvent, RefusalFollower, RestartRecord, connectRedis, ingressClient, recentRefusals, listOf, monitoringKeys, pollerOptions, publishToIngress, splitList, topology,
} from '@farm/common';
import { hostname } from 'node:os';
import { POLLER_ENV } from '../tokens';

/** The farm-client pattern of a request to an attendant: `attendant:<serverId>`. */
const ATTENDANT_PREFIX = 'attendant:';

/** How many ticks between two reads of the attendants' registry. */
const REGISTRY_EVERY_TICKS = 5;

export type PollerEvent =
  | { type: 'server'; data: ServerEvent }
  | { type: 'notification'; data: Notification }
  | { type: 'refusal'; data: RefusalEvent }
  | { type: 'restart'; data: RestartRecord & { serverId: string } };

/** How often the feed looks for new refusals in the farm's refusals stream. */
const REFUSALS_EVERY_MS = 1000;

/**
 * Nest edge of the poller engine: wires RabbitMQ (queries, ingress) and Redis (lists), runs the
 * tick. Several pollers may run for availability: the one holding the lease in Redis polls and
 * notifies, the others stand by, answer reads from Redis, and take over when the lease lapses.
 */
@Injectable()
export class PollerService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Poller');
  readonly engine: Poller;
  private readonly store: PollerStore;
  /** Requests to the attendants: `attendant:<serverId>` goes to that server's queue. */
  private readonly attendants: FarmClient;
  /** Notifications out, to `<ns>.ingress`. */
  private readonly ingress: FarmClient;
  private readonly events = new Subject<PollerEvent>();
  private timer?: NodeJS.Timeout;
  private refusalTimer?: NodeJS.Timeout;
  /** Refused commands anywhere in the farm, raised to operators on the feed as `refusal` events. */
  private readonly refusals: RefusalFollower;
  private following = false;
  private ticks = 0;
  private ticking = false;
  private readonly staticServers: string[];
  private readonly lease: LeaderLease;
  private readonly troubleLog = new RateLimitedLog(5000);
  private readonly retry = { onTrouble: (err: unknown) => this.complain(err) };
  private readonly healthWriter: LatestWriter<PersistedHealth>;
  /** Whether this poller holds the lease (polls and notifies) or stands by. */
  active = false;

  constructor(
    @Inject(POLLER_ENV) private readonly env: PollerEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly metrics: MetricsService,
    @Optional() @Inject(COMMAND_SIGNER) private readonly signer?: CommandSigner,
  ) {
    const t = topology(env.FARM_NAMESPACE);
    this.store = new PollerStore(redis, env.FARM_NAMESPACE);
    this.refusals = new RefusalFollower(redis, env.FARM_NAMESPACE);
    this.ingress = ingressClient(amqp, env.FARM_NAMESPACE);
    this.attendants = new FarmClient(amqp, { route: (pattern) => ({ queue: t.attendantQueue(pattern.slice(ATTENDANT_PREFIX.length)) }), timeoutMs: env.POLL_TIMEOUT_MS });
    this.staticServers = splitList(env.POLLER_SERVERS);
    this.healthWriter = new LatestWriter((h: PersistedHealth) => this.store.saveHealth(h), this.retry);
    const pollerId = env.POLLER_ID ?? `${hostname()}:${process.pid}`;
    this.lease = new LeaderLease(redis, monitoringKeys(env.FARM_NAMESPACE).pollerLease, pollerId, Math.max(env.POLLER_LEASE_MS, 3 * env.POLL_TICK_MS));
    this.engine = new Poller(
      {
        request: (id, body) => lastValueFrom(this.attendants.send<Buffer>(`${ATTENDANT_PREFIX}${id}`, this.signed(id, body))),
        canRequest: () => this.amqp.connected,
        // Redis refusing or away is trouble: the write waits and is retried until it succeeds.
        saveRecord: (r) => this.written(retryTrouble(() => this.store.saveRecord(r), this.retry)),
        deleteRecord: (id) => this.written(retryTrouble(() => this.store.deleteRecord(id), this.retry)),
        saveHealth: (h) => this.written(this.healthWriter.save(h)),
        publish: (n) => this.publish(n),
        now: Date.now,
      },
      pollerOptions(env),
    );
    this.engine.on('server', (e: ServerEvent) => {
      this.log.log(`${e.serverId}: ${e.list}${e.level > 1 ? ` (level ${e.level})` : ''}, ${e.deficiencies.length ? e.deficiencies.map((d) => `${d.kind}${d.service ? ` ${d.service}` : ''}`).join(', ') : 'no deficiency'}`);
      this.events.next({ type: 'server', data: e });
      this.countLists();
    });
    this.engine.on('trouble', (err: Error) => this.complain(err));
    this.engine.on('polled', (p: { serverId: string; outcome: string; ms: number; compilation?: Compilation }) => {
      this.raiseRestarts(p.serverId, p.compilation?.restarts);
      this.metrics.polls.inc({ outcome: p.outcome });
      this.metrics.pollSeconds.observe(p.ms / 1000);
    });
    this.engine.on('notification', (n: Notification) => {
      this.metrics.monitorNotifications.inc({ available: String(n.available) });
      this.log.log(`notified: ${n.target} ${n.available ? 'available' : `unavailable (${n.component})`}`);
      this.events.next({ type: 'notification', data: n });
    });
  }

  /** The newest restart record raised per server (its `at`), so each is raised once. */
  private readonly restartsSeen = new Map<string, string>();

  /** Raises the restarts an attendant reports that this poller has not raised yet (by their time, as the attendant wrote it). */
  private raiseRestarts(serverId: string, records: RestartRecord[] | undefined): void {
    if (!records || records.length === 0) return;
    const seen = this.restartsSeen.get(serverId);
    const last = records[records.length - 1].at;
    this.restartsSeen.set(serverId, last);
    for (const r of records) {
      if (seen !== undefined && r.at <= seen) continue;
      this.log.warn(`${serverId}: ${r.service} ${r.outcome}: ${r.detail}`);
      this.events.next({ type: 'restart', data: { serverId, ...r } });
    }
  }

  /** Set while writes to Redis fail (the last error); the health endpoint reports it. */
  redisTrouble?: string;

  private async written(p: Promise<void>): Promise<void> {
    await p;
    this.redisTrouble = undefined;
  }

  private complain(err: unknown): void {
    this.redisTrouble = (err as Error)?.message ?? String(err);
    const line = this.troubleLog.next(`cannot write to Redis, retrying: ${(err as Error)?.message ?? String(err)}`);
    if (line) this.log.warn(line);
  }

  /** A request to attendant `id`, signed for it (its query or set-clock: commands that reveal or change its state). */
  private signed(id: string, body: Buffer): Buffer | FarmRecord<Buffer> {
    if (!this.signer) return body;
    return new FarmRecord(body, { headers: { [SIGNATURE_HEADER]: this.signer.sign(id, ATTENDANT_COMMAND, JSON.parse(body.toString('utf8'))) } });
  }

  async onApplicationBootstrap(): Promise<void> {
    await connectRedis(this.redis);
    await this.syncFromStore();
    void this.amqp.start();
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.env.POLL_TICK_MS);
    await this.followRefusals();
    this.refusalTimer = setInterval(() => void this.followRefusals(), REFUSALS_EVERY_MS);
  }

  /** Raises the refusals recorded since the last look (every poller, active or standing by, feeds its own clients). */
  private async followRefusals(): Promise<void> {
    if (this.following) return;
    this.following = true;
    try {
      for (const e of await this.refusals.poll()) {
        this.log.warn(`refused at ${e.receiver}: ${e.command} (${e.reason}) claiming to come from ${e.claimedSender ?? 'nobody'}`);
        this.events.next({ type: 'refusal', data: e });
      }
    } catch {
      // Redis away: the next look catches up (the stream keeps the events).
    } finally {
      this.following = false;
    }
  }

  /** The latest refusals in the farm, newest first. */
  recentRefusals(limit: number): Promise<RefusalEvent[]> {
    return recentRefusals(this.redis, this.env.FARM_NAMESPACE, limit);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.refusalTimer);
    if (this.active) await this.lease.release();
    this.events.complete();
    await this.amqp.stop();
    this.redis.disconnect();
  }

  get stream(): Observable<PollerEvent> {
    return this.events.asObservable();
  }

  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const active = await this.lease.renew();
      if (active !== this.active) {
        // Taking over: start from what the last active poller left in Redis.
        if (active) await this.syncFromStore();
        this.active = active;
        this.log.log(active ? `active (lease ${this.lease.id})` : `standing by (the lease is held by ${(await this.lease.holder().catch(() => null)) ?? 'nobody reachable'})`);
      }
      if (!active) return;
      if (this.ticks++ % REGISTRY_EVERY_TICKS === 0) await this.refreshServers().catch((err: Error) => this.log.warn(`registry unreadable: ${err.message}`));
      this.engine.tick();
    } finally {
      this.ticking = false;
    }
  }

  /** Replaces the engine's state with what Redis holds (at start, on taking over, and for a standby's reads). */
  async syncFromStore(): Promise<void> {
    const [records, health] = await Promise.all([this.store.loadRecords(), this.store.loadHealth()]);
    this.engine.records.clear();
    this.engine.load(records, health);
    await this.refreshServers();
    this.countLists();
  }

  /** The active poller's id, for a standby's answers. */
  leaseHolder(): Promise<string | null> {
    return this.lease.holder();
  }

  /** Adds registered and configured servers the poller does not know yet. */
  async refreshServers(): Promise<void> {
    const added = this.engine.addServers([...this.staticServers, ...(await this.store.registered())]);
    if (added.length) this.log.log(`new servers: ${added.join(', ')}`);
  }

  servers(): ServerRecord[] {
    return [...this.engine.records.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Polls one server now; undefined when the poller does not know it (after re-reading the registry). */
  async pollNow(id: string): Promise<ServerRecord | undefined> {
    if (!this.engine.records.has(id)) await this.refreshServers();
    if (!this.engine.records.has(id)) return undefined;
    return this.engine.poll(id);
  }

  /** Forgets a server: off the lists and out of the registry (an attendant that runs registers again). */
  async remove(id: string): Promise<boolean> {
    const known = await this.engine.removeServer(id);
    await this.store.unregister(id);
    return known;
  }

  private async publish(n: Notification): Promise<void> {
    await publishToIngress(this.ingress, n);
    this.metrics.published.inc({ exchange: 'ingress' });
  }

  private countLists(): void {
    const counts = { normal: 0, critical: 0 };
    for (const r of this.engine.records.values()) counts[listOf(r.level)]++;
    this.metrics.serversByList.set({ list: 'normal' }, counts.normal);
    this.metrics.serversByList.set({ list: 'critical' }, counts.critical);
  }
}
