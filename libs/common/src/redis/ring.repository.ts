import Redis from 'ioredis';
import { ReplaceVerdict, RingRow, RingTable, announce, applyReplace, remove } from '../domain/ring';

/**
 * The server table of the buddy ring in one Redis hash (`id -> {address, buddyA, buddyB}`).
 * Every change is one optimistic transaction (WATCH, read, apply the pure rule, MULTI/EXEC,
 * retry on conflict), so joins and deaths that race from several nodes still leave one cycle.
 * WATCH belongs to a connection: give this repository a connection of its own.
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
        for (const id of Object.keys(before)) if (!table[id]) tx.hdel(this.key, id);
        for (const [id, row] of Object.entries(table)) {
          const b = before[id];
          if (!b || b.address !== row.address || b.buddyA !== row.buddyA || b.buddyB !== row.buddyB) tx.hset(this.key, id, JSON.stringify(row));
        }
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
