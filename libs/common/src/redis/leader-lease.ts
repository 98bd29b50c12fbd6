import type Redis from 'ioredis';

// Renews the lease when we hold it, takes it when nobody does; 1 = ours, 0 = someone else's.
const RENEW = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
return 0`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * A lease in Redis that one of several instances holds at a time (the active poller). The holder
 * renews it well within `ttlMs`; when it stops (crash, partition, Redis away), another takes
 * it once it expires. An instance that cannot reach Redis never believes it holds the lease.
 */
export class LeaderLease {
  constructor(
    private readonly redis: Redis,
    readonly key: string,
    readonly id: string,
    readonly ttlMs: number,
  ) {}

  async renew(): Promise<boolean> {
    try {
      return (await this.redis.eval(RENEW, 1, this.key, this.id, String(this.ttlMs))) === 1;
    } catch {
      return false;
    }
  }

  async holder(): Promise<string | null> {
    return this.redis.get(this.key);
  }

  async release(): Promise<void> {
    await this.redis.eval(RELEASE, 1, this.key, this.id).catch(() => undefined);
  }
}
