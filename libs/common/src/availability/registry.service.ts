import { Inject, Injectable, Logger } from '@nestjs/common';
import Redis from 'ioredis';
import { NodeEnv } from '../config/repeater.env';
import { nodesKey } from '../contracts/topology';
import { NodeRecord, NodeRegistryRepository } from '../redis/node-registry.repository';
import { NODE_ENV, REDIS } from './tokens';

/** This node's row in the table of live nodes, refreshed every HEARTBEAT_MS. */
@Injectable()
export class RegistryService {
  private readonly log = new Logger('Registry');
  private readonly repo: NodeRegistryRepository;
  private timer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(REDIS) private readonly redis: Redis,
  ) {
    this.repo = new NodeRegistryRepository(redis, nodesKey(env.FARM_NAMESPACE));
  }

  get address(): string {
    return this.env.NODE_ADDRESS ?? `http://127.0.0.1:${this.env.HTTP_PORT ?? 3100}`;
  }

  start(): void {
    const beat = (): void => {
      this.repo.heartbeat({ id: this.env.NODE_ID, address: this.address, startedAt: this.startedAt, seenAt: Date.now() }).catch((err: Error) => this.log.warn(`heartbeat failed: ${err.message}`));
    };
    beat();
    this.timer = setInterval(beat, this.env.HEARTBEAT_MS);
    this.timer.unref();
  }

  /** Nodes whose heartbeat is recent (three intervals), this one included. */
  live(): Promise<NodeRecord[]> {
    return this.repo.live(Date.now(), this.env.HEARTBEAT_MS * 3);
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    // Leaving the table is a courtesy (rows go stale anyway): never hold shutdown for Redis.
    if (this.redis.status !== 'ready') return;
    await Promise.race([this.repo.remove(this.env.NODE_ID).catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
  }
}
