import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { topology } from '../contracts/topology';
import { AvailabilityState } from '../domain/availability-state';
import { AmqpClient } from '../messaging/amqp-client';
import { MetricsService } from '../metrics/metrics.service';
import { connectRedis } from '../redis/redis-connection';
import { retryTrouble } from '../messaging/retry';
import { DEAD_QUEUE_MAX_LENGTH } from '../messaging/farm-topology';
import { NODE_FANOUT, NODE_FANOUT_URGENT, NodeConsumers } from './consumers';
import { INGRESS, INGRESS_URGENT } from '../messaging/ingress';
import { QueueUpgradeService } from './queue-upgrade.service';
import { FarmServer } from '../transport/farm-server';
import { RingService } from './ring.service';
import { StateStoreService } from './state-store.service';
import { HandshakeReport, NODE_HANDSHAKE, SyncService } from './sync.service';
import { AMQP_CLIENT, AVAILABILITY_STATE, NODE_ENV, REDIS } from './tokens';

export type NodeStatus = 'starting' | 'syncing' | 'ready' | 'stopping';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);
}

/**
 * Start-up order of a node: restore from Redis, take what waited in its queue, run the first
 * handshake, and only then take new notifications from ingress. Until then `/v1/health` says
 * `syncing`. Shutdown: stop consuming, let in-flight work finish, leave the live table.
 */
@Injectable()
export class LifecycleService implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly log = new Logger('Node');
  status: NodeStatus = 'starting';
  restored = 0;
  firstHandshake?: HandshakeReport;
  startupMs = 0;
  private startup?: Promise<void>;
  private deadTimer?: NodeJS.Timeout;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(AVAILABILITY_STATE) private readonly state: AvailabilityState,
    private readonly store: StateStoreService,
    private readonly consumers: NodeConsumers,
    private readonly sync: SyncService,
    private readonly ring: RingService,
    private readonly metrics: MetricsService,
    private readonly farm: FarmServer,
    private readonly upgrade: QueueUpgradeService,
  ) {}

  onApplicationBootstrap(): void {
    this.amqp.on('connected', () => this.metrics.brokerUp.set(1));
    this.amqp.on('disconnected', () => this.metrics.brokerUp.set(0));
    this.redis.on('ready', () => this.metrics.redisUp.set(1));
    this.redis.on('close', () => this.metrics.redisUp.set(0));
    this.startup = this.start().catch((err: Error) => this.log.error(`start-up failed: ${err.stack ?? err.message}`));
  }

  /** Resolves when the node has finished starting (ready or not). */
  whenStarted(): Promise<void> {
    return this.startup ?? Promise.resolve();
  }

  private async start(): Promise<void> {
    const t0 = Date.now();
    this.status = 'syncing';
    // Both connections start at once, so a missing broker or store is reported at once.
    const amqpReady = this.amqp.start();
    await connectRedis(this.redis);
    this.restored = await retryTrouble(() => this.store.restore(), {
      onTrouble: (err, attempt) => attempt % 20 === 0 && this.log.warn(`cannot restore from Redis yet, retrying: ${(err as Error).message}`),
    });
    this.log.log(`restored ${this.restored} entries from Redis`);
    await amqpReady;
    await this.transportListening();
    await this.sync.server.resume();
    await this.ring.start(() => void this.sync.run().catch(() => undefined));
    await withTimeout(this.catchUp(), this.env.STARTUP_TIMEOUT_MS);
    this.firstHandshake = await withTimeout(this.sync.run(), this.env.STARTUP_TIMEOUT_MS);
    if (!this.firstHandshake) this.log.warn(`first handshake did not finish within ${this.env.STARTUP_TIMEOUT_MS} ms; going on`);
    await this.upgrade.startIngress();
    this.watchDeadLetters();
    this.status = 'ready';
    this.startupMs = Date.now() - t0;
    this.log.log(`node ${this.env.NODE_ID} ready in ${this.startupMs} ms with ${this.state.count} entries`);
  }

  /** The node's consumers are the farm transport's: it must be listening before they can resume. */
  private async transportListening(): Promise<void> {
    const listening = this.farm.whenListening().then(() => true);
    if (!(await withTimeout(listening, 5000))) {
      this.log.error('the farm transport is not listening: the app must connect it (app.connectMicroservice({ strategy: app.get(FarmServer) }), then app.startAllMicroservices()); waiting');
      await listening;
    }
  }

  /** Watches the depth of `<ns>.dead`: a gauge, and a warning from 80 % of its limit on. */
  private watchDeadLetters(): void {
    const dead = topology(this.env.FARM_NAMESPACE).deadQueue;
    const check = async (): Promise<void> => {
      const n = await this.amqp.withChannel(async (ch) => (await ch.checkQueue(dead)).messageCount).catch(() => undefined);
      if (n === undefined) return;
      this.metrics.deadLetters.set(n);
      if (n >= DEAD_QUEUE_MAX_LENGTH * 0.8) this.log.warn(`${dead} holds ${n} messages, ${Math.round((100 * n) / DEAD_QUEUE_MAX_LENGTH)} % of its limit of ${DEAD_QUEUE_MAX_LENGTH}: beyond it the oldest are dropped; read and clear them`);
    };
    void check();
    this.deadTimer = setInterval(() => void check(), 30_000);
    this.deadTimer.unref();
  }

  /** Takes what waited in this node's queues (both lanes; urgent first) while it was down, before the handshake. */
  private async catchUp(): Promise<void> {
    const t = topology(this.env.FARM_NAMESPACE);
    const queues = [t.nodeUrgentQueue(this.env.NODE_ID), t.nodeQueue(this.env.NODE_ID)];
    const depth = (): Promise<number> => this.amqp.withChannel(async (ch) => {
      let n = 0;
      for (const q of queues) n += (await ch.checkQueue(q)).messageCount;
      return n;
    }).catch(() => 0);
    const waiting = await depth();
    await this.consumers.fanoutUrgent.resume();
    await this.consumers.fanout.resume();
    if (waiting === 0) return;
    this.log.log(`catching up on ${waiting} message(s) that waited in ${queues.join(' and ')}`);
    for (;;) {
      if (this.consumers.fanoutHandled >= waiting) return;
      const left = await depth();
      if (left === 0 && this.consumers.fanout.inFlight + this.consumers.fanoutUrgent.inFlight === 0) return;
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Dependencies the node cannot use now: `broker` (disconnected), `redis` (away or refusing writes). */
  get degraded(): string[] {
    const out: string[] = [];
    if (!this.amqp.connected) out.push('broker');
    if (this.store.degraded) out.push('redis');
    return out;
  }

  get healthy(): boolean {
    return this.status === 'ready' && this.degraded.length === 0;
  }

  /** Before the HTTP server closes: leave the ring first, so buddies stop pinging a node that is going. */
  async beforeApplicationShutdown(): Promise<void> {
    await withTimeout(this.shutdown(), 8000);
  }

  onApplicationShutdown(): void {
    this.redis.disconnect();
  }

  private async shutdown(): Promise<void> {
    this.status = 'stopping';
    clearInterval(this.deadTimer);
    const t0 = Date.now();
    await this.ring.leave();
    const left = Date.now() - t0;
    const subs = [INGRESS, INGRESS_URGENT, NODE_FANOUT, NODE_FANOUT_URGENT, NODE_HANDSHAKE].map((p) => this.farm.subscriptionIfListening(p));
    await Promise.all(subs.map((s) => s?.pause().catch(() => undefined)));
    const deadline = Date.now() + 5000;
    while (subs.reduce((n, s) => n + (s?.inFlight ?? 0), 0) > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const drained = Date.now() - t0;
    await this.amqp.stop();
    this.log.log(`stopping: left the ring in ${left} ms, finished in-flight work by ${drained} ms, broker closed by ${Date.now() - t0} ms`);
  }
}
