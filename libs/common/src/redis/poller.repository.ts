import type Redis from 'ioredis';
import { monitoringKeys } from '../contracts/topology';
import type { ServerRecord } from '../monitoring/escalation';
import type { PersistedHealth } from '../monitoring/poller';

/** The poller's lists and hysteresis state in Redis (they survive a poller restart), and the attendants' registry. */
export class PollerStore {
  private readonly keys;

  constructor(private readonly redis: Redis, ns: string) {
    this.keys = monitoringKeys(ns);
  }

  async loadRecords(): Promise<ServerRecord[]> {
    const all = await this.redis.hgetall(this.keys.pollerServers);
    return Object.values(all).map((v) => JSON.parse(v) as ServerRecord);
  }

  async saveRecord(r: ServerRecord): Promise<void> {
    await this.redis.hset(this.keys.pollerServers, r.id, JSON.stringify(r));
  }

  async deleteRecord(id: string): Promise<void> {
    await this.redis.hdel(this.keys.pollerServers, id);
  }

  async loadHealth(): Promise<PersistedHealth | undefined> {
    const v = await this.redis.get(this.keys.pollerHealth);
    return v ? (JSON.parse(v) as PersistedHealth) : undefined;
  }

  async saveHealth(h: PersistedHealth): Promise<void> {
    await this.redis.set(this.keys.pollerHealth, JSON.stringify(h));
  }

  /** Server ids the attendants registered. */
  async registered(): Promise<string[]> {
    return this.redis.hkeys(this.keys.attendants);
  }

  async unregister(id: string): Promise<void> {
    await this.redis.hdel(this.keys.attendants, id);
  }
}
