import Redis from 'ioredis';

export interface NodeRecord {
  id: string;
  address: string;
  startedAt: number;
  seenAt: number;
}

/** The table of nodes that are up: each node refreshes its row; stale rows are ignored. */
export class NodeRegistryRepository {
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
  ) {}

  async heartbeat(rec: NodeRecord): Promise<void> {
    await this.redis.hset(this.key, rec.id, JSON.stringify(rec));
  }

  async remove(id: string): Promise<void> {
    await this.redis.hdel(this.key, id);
  }

  async live(now: number, staleAfterMs: number): Promise<NodeRecord[]> {
    const all = await this.redis.hgetall(this.key);
    return Object.values(all)
      .map((v) => JSON.parse(v) as NodeRecord)
      .filter((n) => now - n.seenAt <= staleAfterMs)
      .sort((a, b) => (a.id < b.id ? -1 : 1));
  }
}
