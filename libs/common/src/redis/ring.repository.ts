import Redis from 'ioredis';
import { ReplaceVerdict, RingRow, RingTable, announce, applyReplace, remove } from '../domain/ring';
import type { OwnView } from '../ring/ring-watcher';

/** A node's row and its buddies' rows in one round trip: [row, buddy id, buddy row, ...], or nothing when the node is not in the table. */
const READ_OWN = `
local me = redis.call('HGET', KEYS[1], ARGV[1])
if not me then return {} end
local row = cjson.decode(me)
local out = { me }
for _, b in ipairs({ row.buddyA, row.buddyB }) do
  if type(b) == 'string' then
    local r = redis.call('HGET', KEYS[1], b)
    if r then out[#out + 1] = b; out[#out + 1] = r end
  end
end
return out`;

/** The Redis channel on which a change of node `id`'s row (or its removal) is announced. */
export function ringNoticeChannel(key: string, id: string): string {
  return `${key}:notice:${id}`;
}

/**
 * The server table of the buddy ring in one Redis hash (`id -> {address, buddyA, buddyB}`).
 * Every change is one optimistic transaction (WATCH, read, apply the pure rule, MULTI/EXEC,
 * retry on conflict), so joins and deaths that race from several nodes still leave one cycle.
 * WATCH belongs to a connection: give this repository a connection of its own. With each
 * change it publishes a notice to every node whose row changed or went
 * (`ringNoticeChannel`), so the nodes need not read the table to learn of it.
 */
export class RingRepository {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly maxAttempts = 50,
  ) {}

  async read(): Promise<Record<string, RingRow>> {
    const raw = await this.redis.hgetall(this.key);
    return Object.fromEntries(Object.entries(raw).map(([id, v]) => [id, JSON.parse(v) as RingRow]));
  }

  /** Node `id`'s row and its buddies' rows (one script call, three rows at most). */
  async readOwn(id: string): Promise<OwnView> {
    const out = (await this.redis.eval(READ_OWN, 1, this.key, id)) as string[];
    if (out.length === 0) return { rows: {} };
    const rows: Record<string, RingRow> = {};
    for (let i = 1; i + 1 < out.length; i += 2) rows[out[i]] = JSON.parse(out[i + 1]) as RingRow;
    return { me: JSON.parse(out[0]) as RingRow, rows };
  }

  /** Some rows; ids not in the table are left out. */
  async readRows(ids: string[]): Promise<Record<string, RingRow>> {
    if (ids.length === 0) return {};
    const raw = await this.redis.hmget(this.key, ...ids);
    const rows: Record<string, RingRow> = {};
    ids.forEach((id, i) => {
      const v = raw[i];
      if (v) rows[id] = JSON.parse(v) as RingRow;
    });
    return rows;
  }

  /** Runs one change at a time on this connection (WATCH state is per connection). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private transact<T>(change: (t: RingTable) => { table: Record<string, RingRow>; result: T }): Promise<T> {
    return this.serial(async () => {
      for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
        await this.redis.watch(this.key);
        const before = await this.read();
        const { table, result } = change(before);
        const tx = this.redis.multi();
        const touched: string[] = [];
        for (const id of Object.keys(before)) {
          if (!table[id]) {
            tx.hdel(this.key, id);
            touched.push(id);
          }
        }
        for (const [id, row] of Object.entries(table)) {
          const b = before[id];
          if (!b || b.address !== row.address || b.buddyA !== row.buddyA || b.buddyB !== row.buddyB) {
            tx.hset(this.key, id, JSON.stringify(row));
            touched.push(id);
          }
        }
        for (const id of touched) tx.publish(ringNoticeChannel(this.key, id), 'changed');
        const done = await tx.exec();
        if (done !== null) return result;
        await new Promise((r) => setTimeout(r, Math.random() * 5 * attempt));
      }
      throw new Error(`ring table ${this.key}: too much contention`);
    });
  }

  /** Inserts a node next to a live node chosen by `pick` (at random by default). */
  announce(id: string, address: string, pick: (ids: string[]) => string | undefined = (ids) => ids[Math.floor(Math.random() * ids.length)]): Promise<Record<string, RingRow>> {
    return this.transact((t) => {
      const table = announce(t, id, address, pick(Object.keys(t).filter((x) => x !== id)));
      return { table, result: table };
    });
  }

  /** Cuts a node out; resolves with its buddies, or undefined when it was not in the table. */
  remove(id: string): Promise<[string | null, string | null] | undefined> {
    return this.transact((t) => {
      const r = remove(t, id);
      return { table: r.table, result: r.buddies };
    });
  }

  /**
   * The replace message to node `id`, checked against the table and applied in the same
   * transaction (see checkReplace), so the verdict and the change see one version of the table.
   */
  replace(id: string, old: string, next: string, sender?: string): Promise<ReplaceVerdict> {
    return this.transact((t) => {
      const r = applyReplace(t, id, old, next, sender);
      return { table: r.table, result: r.verdict };
    });
  }
}
