import { ReplaceVerdict, RingRow } from '../domain/ring';
import { LoggerLike } from '../logging';

/** What a watcher needs of the outside world; injected so that tests and benches can host many. */
/** Another node of the ring, as the table lists it. */
export interface RingPeer {
  id: string;
  address: string;
}

/** A node's own row and its buddies' rows, read in one round trip; `me` undefined when the node is not in the table. */
export interface OwnView {
  me?: RingRow;
  rows: Record<string, RingRow>;
}

export interface RingPorts {
  /** The whole table (for a leave, views and peers; never on a steady round). */
  read(): Promise<Record<string, RingRow>>;
  /** Node `id`'s row and its buddies' rows: what a round needs when it has reason to doubt its view. */
  readOwn(id: string): Promise<OwnView>;
  /** Some rows (missing ids left out). */
  readRows(ids: string[]): Promise<Record<string, RingRow>>;
  /** Calls `onNotice` whenever node `id`'s row changes or goes (a notice published with the change), and after a lost connection. */
  subscribe?(id: string, onNotice: () => void): Promise<void>;
  announce(id: string, address: string): Promise<unknown>;
  remove(id: string): Promise<[string | null, string | null] | undefined>;
  /** Node `id` takes `next` instead of `old` if the table allows it (checkReplace), in one transaction. */
  replace(id: string, old: string, next: string, sender?: string): Promise<ReplaceVerdict>;
  /** Direct probe of a node's address; true when it answered in time. */
  ping(address: string, timeoutMs: number): Promise<boolean>;
  /** Asks node `via` to probe node `targetId` (an indirect probe); true when it reached it. */
  probeVia(via: RingPeer, targetId: string, timeoutMs: number): Promise<boolean>;
  /** Tells node `to` to replace `old` with `next` among its buddies. */
  tellReplace(to: RingPeer, old: string, next: string): Promise<void>;
  /** Whether the store holding the table is reachable right now. */
  storeReachable(): boolean;
}

export interface RingWatcherOptions {
  id: string;
  address: string;
  intervalMs: number;
  misses: number;
  /**
   * A buddy that has missed is pinged again this soon after the round that missed it, instead of
   * a whole interval later (default: half the interval), so the misses that cut a dead node
   * out come closer together; the indirect probe still spares one that is only slow.
   */
  retryMs?: number;
  /** Even without a notice or a miss, the own row is read again this often (a lost notice costs at most this). */
  refreshMs?: number;
  log: LoggerLike;
}

/** Default of RingWatcherOptions.refreshMs: 30 s, so an idle ring reads its table 1/30 times per node per second. */
export const RING_REFRESH_MS = 30_000;

export interface RingWatcherStats {
  /** Rounds in which this node pinged its buddies. */
  rounds: number;
  pings: number;
  declaredDead: number;
  selfSuspicions: number;
  rejoins: number;
  suspectingSelf: boolean;
  /** Reads of the table: own views, rows, and whole-table reads. */
  tableReads: number;
}

/**
 * One node's watch over its two buddies: a direct ping to each every interval (every `retryMs`
 * while a buddy has missed); after `misses` consecutive misses an indirect probe through the dead node's other buddy; only when that fails
 * too is the node cut out of the table and the other buddy told to take this node instead. A node
 * that cannot reach the store, that sees both its pings fail at once, or whose own timer ran late
 * (it was paused or starved), suspects itself and declares nobody dead.
 *
 * Its cost does not grow with the farm: a node keeps its own row and its buddies' rows, and reads
 * them again (one round trip, three rows) only with reason to doubt them: a notice that its row
 * changed (published with every change of the table), a replace, a missed ping, a cut, a lost
 * connection, or `refreshMs` without any of these. The whole table is read only to leave.
 */
export class RingWatcher {
  private timer?: NodeJS.Timeout;
  private readonly missed = new Map<string, number>();
  /** When the pending round was due: a timer that fires far later means this node was paused or starved. */
  private dueAt = 0;
  private stopped = true;
  private rejoined: () => void = () => undefined;
  readonly stats: RingWatcherStats = { rounds: 0, pings: 0, declaredDead: 0, selfSuspicions: 0, rejoins: 0, suspectingSelf: false, tableReads: 0 };
  /** What this node knows of its place: its row and its buddies' rows. */
  private view?: OwnView;
  private stale = true;
  private readAt = 0;

  constructor(
    private readonly ports: RingPorts,
    private readonly opts: RingWatcherOptions,
  ) {}

  /** Called after this node found itself missing from the table and announced itself again. */
  onRejoin(fn: () => void): void {
    this.rejoined = fn;
  }

  /** Joins the ring and starts watching; if the announce fails, the next round announces again. */
  async start(): Promise<void> {
    this.stopped = false;
    this.schedule(this.opts.intervalMs);
    await this.ports.subscribe?.(this.opts.id, () => this.doubt()).catch((err: Error) => this.opts.log.warn(`cannot follow the ring's notices yet (reading the table every round until then): ${err.message}`));
    await this.ports.announce(this.opts.id, this.opts.address).catch((err: Error) => this.opts.log.warn(`cannot join the ring yet: ${err.message}`));
    this.doubt();
  }

  /** Something may have changed around this node: read its rows again before the next pings. */
  doubt(): void {
    this.stale = true;
  }

  private async readOwn(): Promise<OwnView> {
    this.stats.tableReads++;
    const v = await this.ports.readOwn(this.opts.id);
    this.view = v;
    this.stale = false;
    this.readAt = Date.now();
    return v;
  }

  /** Normal shutdown: leave the table and tell each buddy to take the other instead. */
  async leave(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const table = (await this.readOwn().catch(() => undefined))?.rows;
    const buddies = await this.ports.remove(this.opts.id).catch(() => undefined);
    if (!buddies || !table) return;
    const [p, q] = buddies;
    const timeout = Math.max(200, this.opts.intervalMs);
    await Promise.all([
      p && q && p !== q && table[p] ? this.ports.tellReplace({ id: p, address: table[p].address }, this.opts.id, q).catch(() => undefined) : undefined,
      p && q && p !== q && table[q] ? this.ports.tellReplace({ id: q, address: table[q].address }, this.opts.id, p).catch(() => undefined) : undefined,
    ].map((x) => Promise.race([x, new Promise((r) => setTimeout(r, timeout))])));
  }

  /** Stops watching without leaving (a crash, for tests and benches). */
  halt(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  /**
   * A buddy told us to replace `old` with `next` (`sender`: who, when the message was signed).
   * Checked against the table (checkReplace): the table already says so, or we make it say so,
   * or, when the table contradicts the message (a live `old`, a ghost `next`, a sender that is
   * neither), it is refused, logged and nothing changes. Refusing never costs the ring a link:
   * every round reads this node's buddies from the table afresh.
   */
  async onReplace(old: string, next: string, sender?: string): Promise<ReplaceVerdict> {
    const verdict = await this.ports.replace(this.opts.id, old, next, sender);
    this.doubt();
    if (verdict.ok) this.missed.delete(old);
    else this.opts.log.warn(`refused to replace ${old} with ${next} at the word of ${sender ?? 'an unnamed caller'} (${verdict.reason}): ${verdict.message}`);
    return verdict;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.dueAt = Date.now() + delayMs;
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  /**
   * One round, then the next: an interval after this one started, or `retryMs` after it while a
   * buddy has missed (at once if the round itself took longer). Rounds never overlap.
   */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    const started = Date.now();
    // Our own timer fired far later than due: this node was paused or starved.
    const late = started - this.dueAt > 1.5 * this.opts.intervalMs;
    try {
      await this.round(late);
    } catch (err) {
      this.opts.log.warn(`ring round failed: ${(err as Error).message}`);
    } finally {
      const next = this.missed.size > 0 ? this.opts.retryMs ?? Math.floor(this.opts.intervalMs / 2) : this.opts.intervalMs;
      this.schedule(Math.max(0, started + next - Date.now()));
    }
  }

  private async round(late: boolean): Promise<void> {
    if (late) {
      // Our own timer ran late (paused, starved): what we missed says nothing about the others.
      this.missed.clear();
      this.suspect('this node was paused or starved');
      return;
    }
    if (!this.ports.storeReachable()) {
      this.doubt(); // what changed meanwhile may never be noticed
      return this.suspect('the ring table is unreachable');
    }
    const refresh = this.stale || !this.view || Date.now() - this.readAt >= (this.opts.refreshMs ?? RING_REFRESH_MS);
    const { me, rows } = refresh ? await this.readOwn() : (this.view as OwnView);
    if (!me) {
      this.opts.log.warn(`node ${this.opts.id} is missing from the ring table (declared dead while slow?); announcing again`);
      await this.ports.announce(this.opts.id, this.opts.address);
      this.stats.rejoins++;
      this.missed.clear();
      this.doubt();
      this.rejoined();
      return;
    }
    const buddies = [...new Set([me.buddyA, me.buddyB])].filter((b): b is string => b !== null && b !== this.opts.id && rows[b] !== undefined);
    for (const id of [...this.missed.keys()]) if (!buddies.includes(id)) this.missed.delete(id);
    if (buddies.length === 0) return;
    const timeout = Math.max(100, Math.floor(this.opts.intervalMs * 0.8));
    const answers = await Promise.all(buddies.map((b) => this.ports.ping(rows[b].address, timeout)));
    this.stats.pings += buddies.length;
    this.stats.rounds++;
    // A buddy that did not answer may have left or been replaced: read the rows again next round.
    if (answers.some((a) => !a)) this.doubt();
    if (buddies.length >= 2 && answers.every((a) => !a)) {
      for (const b of buddies) this.missed.set(b, (this.missed.get(b) ?? 0) + 1);
      return this.suspect('every ping failed at once');
    }
    this.stats.suspectingSelf = false;
    for (let i = 0; i < buddies.length; i++) {
      const b = buddies[i];
      if (answers[i]) {
        this.missed.delete(b);
        continue;
      }
      const n = (this.missed.get(b) ?? 0) + 1;
      this.missed.set(b, n);
      if (n >= this.opts.misses) await this.confirmAndCut(b, rows[b], timeout);
    }
  }

  private suspect(why: string): void {
    if (!this.stats.suspectingSelf) this.opts.log.warn(`suspecting this node itself (${why}): declaring nobody dead`);
    this.stats.suspectingSelf = true;
    this.stats.selfSuspicions++;
  }

  private async confirmAndCut(dead: string, row: RingRow, timeout: number): Promise<void> {
    const other = row.buddyA === this.opts.id ? row.buddyB : row.buddyA;
    this.stats.tableReads++;
    const otherRow = other && other !== this.opts.id ? (await this.ports.readRows([other]))[other] : undefined;
    if (other && otherRow) {
      if (await this.ports.probeVia({ id: other, address: otherRow.address }, dead, timeout * 2).catch(() => false)) {
        this.missed.delete(dead);
        return;
      }
    }
    if (!this.ports.storeReachable()) return this.suspect('the ring table is unreachable');
    const buddies = await this.ports.remove(dead);
    this.missed.delete(dead);
    this.doubt();
    if (!buddies) return; // someone else cut it out first
    this.stats.declaredDead++;
    this.opts.log.warn(`declared ${dead} dead after ${this.opts.misses} missed pings and a failed indirect probe; ${other && otherRow ? `${other} and ${this.opts.id} are buddies now` : 'no other buddy to tell'}`);
    if (other && otherRow) await this.ports.tellReplace({ id: other, address: otherRow.address }, dead, this.opts.id).catch(() => undefined);
  }
}
