import Redis from 'ioredis';
import { NodeKeys } from '../contracts/topology';
import { Entry, canonicalEntry } from '../domain/notification';

/**
 * Last-writer-wins write of entries, atomic per call: an entry is stored only when it is greater
 * (timestamp, then id, then bytes; timestamps are canonical ISO strings, so they compare as
 * strings) than the stored one, and an audit line is pushed only for what was written. A write
 * resent by ioredis after a reconnect is therefore a no-op.
 */
const PUT_ENTRIES = `
local max = tonumber(ARGV[1])
local written = 0
for i = 2, #ARGV, 5 do
  local field, ts, id, json, audit = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4]
  local cur = redis.call('HGET', KEYS[1], field)
  local take = true
  if cur then
    local c = cjson.decode(cur)
    if c.timestamp > ts then take = false
    elseif c.timestamp == ts then
      if c.id > id then take = false
      elseif c.id == id and cur >= json then take = false end
    end
  end
  if take then
    redis.call('HSET', KEYS[1], field, json)
    if audit ~= '' then redis.call('LPUSH', KEYS[2], audit) end
    written = written + 1
  end
end
if written > 0 and max > 0 then redis.call('LTRIM', KEYS[2], 0, max - 1) end
return written
`;

/** Deletes entries only where Redis holds exactly the given version (a newer write is kept); audits each. */
const DROP_ENTRIES = `
local max = tonumber(ARGV[1])
local dropped = 0
for i = 2, #ARGV, 3 do
  local field, json, audit = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('HGET', KEYS[1], field) == json then
    redis.call('HDEL', KEYS[1], field)
    if audit ~= '' then redis.call('LPUSH', KEYS[2], audit) end
    dropped = dropped + 1
  end
end
if dropped > 0 and max > 0 then redis.call('LTRIM', KEYS[2], 0, max - 1) end
return dropped
`;

export interface AuditLine {
  /** Wall-clock milliseconds (sub-ms precision) when the node applied it. */
  at: number;
  node: string;
  via: 'ingress' | 'fanout' | 'sync' | 'rewrite' | 'expire';
  id: string;
  key: string;
  available: boolean;
  reason?: string;
  operatorId?: string;
  source: string;
  timestamp: string;
}

type WithPut = Redis & {
  farmPutEntries(k1: string, k2: string, ...args: (string | number)[]): Promise<number>;
  farmDropEntries(k1: string, k2: string, ...args: (string | number)[]): Promise<number>;
};

export class EntryRepository {
  private readonly redis: WithPut;

  constructor(
    redis: Redis,
    private readonly keys: NodeKeys,
    private readonly auditMax: number,
  ) {
    if (!('farmPutEntries' in redis)) redis.defineCommand('farmPutEntries', { numberOfKeys: 2, lua: PUT_ENTRIES });
    if (!('farmDropEntries' in redis)) redis.defineCommand('farmDropEntries', { numberOfKeys: 2, lua: DROP_ENTRIES });
    this.redis = redis as WithPut;
  }

  /** Writes entries last-writer-wins; returns how many were newer than what Redis held. */
  async put(items: { key: string; json: string; entry: Pick<Entry, 'timestamp' | 'id'>; audit?: AuditLine }[]): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [this.auditMax];
    for (const it of items) args.push(it.key, it.entry.timestamp, it.entry.id, it.json, it.audit ? JSON.stringify(it.audit) : '');
    return this.redis.farmPutEntries(this.keys.entries, this.keys.audit, ...args);
  }

  /** Drops entries held in exactly these versions (retention); returns how many went. */
  async drop(items: { key: string; json: string; audit?: AuditLine }[]): Promise<number> {
    if (items.length === 0) return 0;
    const args: (string | number)[] = [this.auditMax];
    for (const it of items) args.push(it.key, it.json, it.audit ? JSON.stringify(it.audit) : '');
    return this.redis.farmDropEntries(this.keys.entries, this.keys.audit, ...args);
  }

  /** Every stored entry, read in slices so a large state never blocks Redis nor sits in memory twice. */
  async loadEach(fn: (e: Entry) => void): Promise<void> {
    let cursor = '0';
    do {
      const [next, flat] = await this.redis.hscan(this.keys.entries, cursor, 'COUNT', 2000);
      cursor = next;
      for (let i = 1; i < flat.length; i += 2) fn(canonicalEntry(JSON.parse(flat[i]) as Entry));
    } while (cursor !== '0');
  }

  async loadAll(): Promise<Entry[]> {
    const out: Entry[] = [];
    await this.loadEach((e) => out.push(e));
    return out;
  }

  async hasMarker(): Promise<boolean> {
    return (await this.redis.exists(this.keys.marker)) === 1;
  }

  async setMarker(value: string): Promise<void> {
    await this.redis.set(this.keys.marker, value);
  }

  async audit(limit: number): Promise<AuditLine[]> {
    const lines = await this.redis.lrange(this.keys.audit, 0, Math.max(0, limit - 1));
    return lines.map((l) => JSON.parse(l) as AuditLine);
  }

  async clear(): Promise<void> {
    await this.redis.del(this.keys.entries, this.keys.audit, this.keys.marker);
  }
}
