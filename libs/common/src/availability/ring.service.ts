import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { COMMAND_SIGNER } from '../auth/farm-auth';
import type { CommandSigner } from '../auth/command-verifier';
import Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { ringKey } from '../contracts/topology';
import { ReplaceVerdict, RingRow, cycleOrder, isValidRing } from '../domain/ring';
import { MetricsService } from '../metrics/metrics.service';
import { REFUSAL_LOG } from '../auth/farm-auth';
import { RefusalLog } from '../auth/refusal-log';
import { RingRepository } from '../redis/ring.repository';
import { RING_REPLACE, httpRingPorts, pingNode } from '../ring/http-ring-ports';
import { RingWatcher } from '../ring/ring-watcher';
import { NODE_ENV, REDIS } from './tokens';

export interface RingView {
  servers: ({ id: string } & RingRow)[];
  ring: string[];
  consistent: boolean;
}

/**
 * This node's place in the buddy ring: the server table in Redis (on a connection of its own,
 * for WATCH), the watcher that pings the two buddies over HTTP, and the live-node list the
 * handshake picks its peers from.
 */
@Injectable()
export class RingService {
  private readonly log = new Logger('Ring');
  private readonly conn: Redis;
  /** Subscriber-mode connection for the notices of changes to this node's row. */
  private readonly notices: Redis;
  readonly repo: RingRepository;
  readonly watcher: RingWatcher;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(REDIS) redis: Redis,
    @Optional() @Inject(COMMAND_SIGNER) signer?: CommandSigner,
    @Optional() private readonly metrics?: MetricsService,
    @Optional() @Inject(REFUSAL_LOG) private readonly refusals?: RefusalLog,
  ) {
    // Fail fast while Redis is away: a watcher that cannot read the table suspects itself.
    this.conn = redis.duplicate({ connectionName: `${env.FARM_NAMESPACE}.ring.${env.NODE_ID}`, enableAutoPipelining: false, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
    this.conn.on('error', () => undefined);
    this.notices = redis.duplicate({ connectionName: `${env.FARM_NAMESPACE}.ring-notices.${env.NODE_ID}`, lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.notices.on('error', () => undefined);
    this.repo = new RingRepository(this.conn, ringKey(env.FARM_NAMESPACE));
    this.watcher = new RingWatcher(
      httpRingPorts(this.repo, this.conn, signer, { redis: this.notices, key: ringKey(env.FARM_NAMESPACE) }),
      { id: env.NODE_ID, address: this.address, intervalMs: env.PING_INTERVAL_MS, misses: env.PING_MISSES, refreshMs: env.RING_REFRESH_MS, log: this.log },
    );
  }

  get address(): string {
    return this.env.NODE_ADDRESS ?? `http://127.0.0.1:${this.env.HTTP_PORT ?? 3100}`;
  }

  /** Joins the ring and starts watching; `onRejoin` runs when the node had been cut out and came back. */
  async start(onRejoin: () => void): Promise<void> {
    if (this.conn.status === 'wait') await this.conn.connect().catch(() => undefined);
    this.watcher.onRejoin(onRejoin);
    await this.watcher.start();
  }

  /** Probes another node on request of one of its buddies (the indirect probe). */
  async probe(target: string): Promise<boolean> {
    const row = (await this.repo.readRows([target]))[target];
    if (!row) return false;
    return pingNode(row.address, Math.max(100, Math.floor(this.env.PING_INTERVAL_MS * 0.8)));
  }

  /**
   * A replace message from a buddy (`sender`, when it was signed), checked against the table by
   * the watcher. A signed one the table refuses is counted in farm_signed_commands_total with the
   * refusal as its outcome, beside the signature's own `accepted`.
   */
  async replace(old: string, next: string, sender?: string): Promise<ReplaceVerdict> {
    const verdict = await this.watcher.onReplace(old, next, sender);
    if (!verdict.ok && sender !== undefined) {
      this.metrics?.signedCommands.inc({ command: RING_REPLACE, outcome: verdict.reason });
      this.refusals?.record({ receiver: this.env.NODE_ID, command: RING_REPLACE, reason: verdict.reason, message: verdict.message, claimedSender: sender });
    }
    return verdict;
  }

  async view(): Promise<RingView> {
    const table = await this.repo.read();
    const servers = Object.entries(table).map(([id, r]) => ({ id, ...r })).sort((a, b) => (a.id < b.id ? -1 : 1));
    return { servers, ring: cycleOrder(table) ?? [], consistent: isValidRing(table) };
  }

  /** Nodes in the ring table (live as far as the ring knows). */
  async live(): Promise<{ id: string; address: string }[]> {
    const table = await this.repo.read();
    return Object.entries(table).map(([id, r]) => ({ id, address: r.address })).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  async leave(): Promise<void> {
    this.notices.disconnect();
    if (this.conn.status !== 'ready') {
      this.watcher.halt();
      return;
    }
    await Promise.race([this.watcher.leave().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.conn.disconnect();
  }
}
