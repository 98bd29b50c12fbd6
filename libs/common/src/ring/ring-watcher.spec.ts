import { RingRow, RingTable, announce, applyReplace, isValidRing, remove, replace } from '../domain/ring';
import { LoggerLike } from '../logging';
import { RingPeer, RingPorts, RingWatcher } from './ring-watcher';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const pairs = (t: RingTable) => Object.fromEntries(Object.entries(t).map(([id, r]) => [id, [r.buddyA, r.buddyB]]));

interface World {
  down: Set<string>;
  /** Reads of the table by kind, and whether changes publish notices (a lost notice when false). */
  reads: { all: number; own: number; rows: number };
  notices: boolean;
  /** The node the next announce joins next to (the first in the table when unset). */
  joinNext?: string;
  storeUp: boolean;
  removed: string[];
  told: string[];
  readonly table: RingTable;
  ports: RingPorts;
}

/** An in-memory table and network: `down` nodes do not answer; `storeUp` says whether Redis does. */
function world(ids: string[]): World {
  let current: RingTable = {};
  for (const id of ids) current = announce(current, id, `http://${id}`, Object.keys(current)[0]);
  const listeners = new Map<string, () => void>();
  /** Every change of the table goes through here: it notices the nodes whose rows changed or went, as the repository does. */
  const change = (next: RingTable): RingTable => {
    const before = current;
    current = next;
    if (w.notices) {
      for (const id of new Set([...Object.keys(before), ...Object.keys(next)])) {
        const [a, b] = [before[id], next[id]];
        if (!a || !b || a.address !== b.address || a.buddyA !== b.buddyA || a.buddyB !== b.buddyB) listeners.get(id)?.();
      }
    }
    return current;
  };
  const w: World = {
    down: new Set<string>(),
    reads: { all: 0, own: 0, rows: 0 },
    notices: true,
    storeUp: true,
    removed: [] as string[],
    told: [] as string[],
    get table(): RingTable {
      return current;
    },
    ports: {
      read: async () => {
        w.reads.all++;
        return { ...current } as Record<string, RingRow>;
      },
      readOwn: async (id: string) => {
        w.reads.own++;
        const me = current[id];
        const rows: Record<string, RingRow> = {};
        for (const b of me ? [me.buddyA, me.buddyB] : []) if (b && current[b]) rows[b] = { ...current[b] };
        return { me: me ? { ...me } : undefined, rows };
      },
      readRows: async (ids: string[]) => {
        w.reads.rows++;
        return Object.fromEntries(ids.filter((id) => current[id]).map((id) => [id, { ...current[id] }]));
      },
      subscribe: async (id: string, onNotice: () => void) => void listeners.set(id, onNotice),
      announce: async (id: string, address: string) => change(announce(current, id, address, w.joinNext ?? Object.keys(current)[0])) as Record<string, RingRow>,
      remove: async (id: string) => {
        const r = remove(current, id);
        change(r.table);
        if (r.buddies) w.removed.push(id);
        return r.buddies;
      },
      replace: async (id: string, old: string, next: string, sender?: string) => {
        const r = applyReplace(current, id, old, next, sender);
        change(r.table);
        return r.verdict;
      },
      ping: async (address: string) => !w.down.has(address.slice(7)),
      probeVia: async (_via: RingPeer, target: string) => !w.down.has(target),
      tellReplace: async (to: RingPeer, old: string, next: string) => void w.told.push(`${to.address.slice(7)}:${old}->${next}`),
      storeReachable: () => w.storeUp,
    },
  };
  return w;
}

/** The ids a world's nodes ping, in order, from now on. */
function recordPings(w: World): string[] {
  const pinged: string[] = [];
  const ping = w.ports.ping;
  w.ports.ping = async (address: string, timeoutMs: number) => {
    pinged.push(address.slice(7));
    return ping(address, timeoutMs);
  };
  return pinged;
}

describe('RingWatcher', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function watch(w: World, id: string, log: LoggerLike = quiet): Promise<RingWatcher> {
    const watcher = new RingWatcher(w.ports, { id, address: `http://${id}`, intervalMs: 1000, misses: 3, log });
    await watcher.start();
    return watcher;
  }

  it('pings exactly its two buddies each round', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const pinged = recordPings(w);
    const watcher = await watch(w, 'a');
    const { buddyA, buddyB } = w.table.a;
    expect(buddyA).not.toBe(buddyB);
    await jest.advanceTimersByTimeAsync(5000);
    expect(watcher.stats.rounds).toBe(5);
    expect(watcher.stats.pings).toBe(10);
    expect(pinged).toHaveLength(10);
    for (let round = 0; round < 5; round++) expect(pinged.slice(2 * round, 2 * round + 2).sort()).toEqual([buddyA, buddyB].sort());
  });

  it('reads no table on an idle ring: each node its own rows once at the start and once per refresh, never the whole table', async () => {
    const ids = ['a', 'b', 'c', 'd', 'e', 'f'];
    const w = world(ids);
    const watchers = await Promise.all(ids.map((id) => watch(w, id)));
    await jest.advanceTimersByTimeAsync(60_000);
    expect(w.reads.all).toBe(0);
    expect(w.reads.rows).toBe(0);
    for (const x of watchers) {
      expect(x.stats.rounds).toBe(60);
      expect(x.stats.pings).toBe(120);
      // The first round, then one refresh every 30 s: 2 in 60 s, 0.033 per second.
      expect(x.stats.tableReads).toBe(2);
      x.halt();
    }
    expect(w.reads.own).toBe(2 * ids.length);
  });

  it('learns from the notice that a node joined next to it, and pings the newcomer from the next round', async () => {
    const w = world(['a', 'b', 'c']);
    const pinged = recordPings(w);
    const watcher = await watch(w, 'a');
    await jest.advanceTimersByTimeAsync(2000);
    const reads = watcher.stats.tableReads;
    w.joinNext = 'a';
    await w.ports.announce('x', 'http://x');
    expect([w.table.a.buddyA, w.table.a.buddyB]).toContain('x');
    pinged.length = 0;
    await jest.advanceTimersByTimeAsync(1000);
    expect(pinged).toContain('x');
    expect(watcher.stats.tableReads).toBe(reads + 1);
    watcher.halt();
  });

  it('catches a change whose notice was lost at the next refresh', async () => {
    const w = world(['a', 'b', 'c']);
    const pinged = recordPings(w);
    const watcher = await watch(w, 'a');
    await jest.advanceTimersByTimeAsync(2000);
    w.notices = false;
    w.joinNext = 'a';
    await w.ports.announce('x', 'http://x');
    pinged.length = 0;
    await jest.advanceTimersByTimeAsync(20_000);
    expect(pinged).not.toContain('x');
    await jest.advanceTimersByTimeAsync(10_000);
    expect(pinged).toContain('x');
    watcher.halt();
  });

  it('cuts out a buddy after the misses (re-pinged half an interval apart) and a failed indirect probe, and tells the other buddy', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    const dead = w.table.a.buddyA as string;
    const pingedDeadAt: number[] = [];
    const ping = w.ports.ping;
    w.ports.ping = async (address: string, timeoutMs: number) => {
      if (address === `http://${dead}`) pingedDeadAt.push(Date.now());
      return ping(address, timeoutMs);
    };
    const t0 = Date.now();
    const other = w.table[dead].buddyA === 'a' ? w.table[dead].buddyB : w.table[dead].buddyA;
    const probes: string[] = [];
    const probeVia = w.ports.probeVia;
    w.ports.probeVia = async (via: RingPeer, target: string, timeoutMs: number) => {
      expect(via.address).toBe(`http://${via.id}`);
      probes.push(`${via.id}->${target}`);
      return probeVia(via, target, timeoutMs);
    };
    w.down.add(dead);
    await jest.advanceTimersByTimeAsync(1500);
    // Two misses: the first at the round, the second half an interval later; no probe, no cut yet.
    expect(pingedDeadAt.map((t) => t - t0)).toEqual([1000, 1500]);
    expect(w.removed).toEqual([]);
    expect(probes).toEqual([]);
    await jest.advanceTimersByTimeAsync(500);
    expect(pingedDeadAt.map((t) => t - t0)).toEqual([1000, 1500, 2000]);
    expect(probes).toEqual([`${other}->${dead}`]);
    expect(w.removed).toEqual([dead]);
    expect(w.told).toEqual([`${other}:${dead}->a`]);
    expect(watcher.stats.declaredDead).toBe(1);
  });

  it('spares a buddy that the indirect probe reaches', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    const unpingable = w.table.a.buddyA as string;
    const probes: string[] = [];
    w.ports.ping = async (address: string) => address !== `http://${unpingable}`;
    w.ports.probeVia = async (via: RingPeer, target: string) => {
      probes.push(`${via.id}->${target}`);
      return true;
    };
    await jest.advanceTimersByTimeAsync(4500);
    // Three misses (1,000, 1,500, 2,000 ms), a probe that reaches it; the next round an interval
    // later, three more misses (3,000, 3,500, 4,000 ms), another probe.
    const other = w.table[unpingable].buddyA === 'a' ? w.table[unpingable].buddyB : w.table[unpingable].buddyA;
    expect(probes).toEqual([`${other}->${unpingable}`, `${other}->${unpingable}`]);
    expect(w.removed).toEqual([]);
    expect(watcher.stats.declaredDead).toBe(0);
  });

  it('suspects itself when its own round comes far later than due (the node was paused), and pings nobody that round', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    await jest.advanceTimersByTimeAsync(1000);
    expect(watcher.stats.suspectingSelf).toBe(false);
    const pings = watcher.stats.pings;
    // The clock moves 3 s on while no timer runs: the next round finds itself 2 s late.
    jest.setSystemTime(Date.now() + 3000);
    await jest.advanceTimersByTimeAsync(1000);
    expect(watcher.stats.suspectingSelf).toBe(true);
    expect(watcher.stats.pings).toBe(pings);
    // On time again: it pings, both answer, the suspicion ends.
    await jest.advanceTimersByTimeAsync(1000);
    expect(watcher.stats.suspectingSelf).toBe(false);
    expect(watcher.stats.pings).toBe(pings + 2);
    watcher.halt();
  });

  it('suspects itself when every ping fails at once or the store is away, and declares nobody dead', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    w.down.add(w.table.a.buddyA as string).add(w.table.a.buddyB as string);
    await jest.advanceTimersByTimeAsync(6000);
    expect(w.removed).toEqual([]);
    expect(watcher.stats.suspectingSelf).toBe(true);
    // Both buddies answer again: the suspicion ends.
    w.down.clear();
    await jest.advanceTimersByTimeAsync(1000);
    expect(watcher.stats.suspectingSelf).toBe(false);
    // The store goes away while one buddy is down: suspicion again, every round, and no cut.
    const suspicions = watcher.stats.selfSuspicions;
    const pings = watcher.stats.pings;
    w.storeUp = false;
    w.down.add(w.table.a.buddyA as string);
    await jest.advanceTimersByTimeAsync(6000);
    expect(watcher.stats.suspectingSelf).toBe(true);
    expect(watcher.stats.selfSuspicions).toBe(suspicions + 6);
    expect(watcher.stats.pings).toBe(pings);
    expect(w.removed).toEqual([]);
  });

  it('announces itself again, and says so, when it finds itself missing from the table', async () => {
    const w = world(['a', 'b', 'c']);
    const watcher = await watch(w, 'a');
    const rejoined = jest.fn();
    watcher.onRejoin(rejoined);
    await w.ports.remove('a');
    await jest.advanceTimersByTimeAsync(1000);
    expect(w.table.a).toBeDefined();
    expect(rejoined).toHaveBeenCalledTimes(1);
  });

  it('leaves the table on a normal shutdown and tells each buddy to take the other', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    const { buddyA, buddyB } = w.table.a;
    await watcher.leave();
    expect(w.table.a).toBeUndefined();
    expect(w.told.sort()).toEqual([`${buddyA}:a->${buddyB}`, `${buddyB}:a->${buddyA}`].sort());
  });

  it('takes the replace a cut or a leave sends: the table already says so, and nothing changes', async () => {
    const w = world(['a', 'b', 'c', 'd', 'e']);
    const watchers = Object.fromEntries(await Promise.all(['a', 'b', 'c', 'd', 'e'].map(async (id) => [id, await watch(w, id)] as const)));
    // A cut: a declares its buddy dead and tells the dead node's other buddy, as the sender `next`.
    const dead = w.table.a.buddyA as string;
    w.down.add(dead);
    watchers[dead].halt();
    await jest.advanceTimersByTimeAsync(3000);
    expect(w.removed).toEqual([dead]);
    expect(w.told).toHaveLength(1);
    const [other, change] = w.told[0].split(':');
    const [old, cutter] = change.split('->');
    expect(old).toBe(dead);
    const before = pairs(w.table);
    expect(await watchers[other].onReplace(dead, cutter, cutter)).toMatchObject({ ok: true, changes: false });
    expect(pairs(w.table)).toEqual(before);
    // A leave: each former buddy hears from the leaving node, as the sender `old`.
    w.told.length = 0;
    const leaving = w.table.a.buddyB as string;
    await watchers[leaving].leave();
    expect(w.told).toHaveLength(2);
    for (const t of w.told) {
      const [to, change] = t.split(':');
      const [old, next] = change.split('->');
      expect(await watchers[to].onReplace(old, next, leaving)).toMatchObject({ ok: true, changes: false });
    }
    expect(isValidRing(w.table)).toBe(true);
    for (const x of Object.values(watchers)) x.halt();
  });

  it('refuses a replace naming a ghost for its live buddy, logs it, and keeps watching that buddy', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const warnings: string[] = [];
    const pinged = recordPings(w);
    const watcher = await watch(w, 'a', { ...quiet, warn: (m: string) => void warnings.push(m) });
    const buddy = w.table.a.buddyA as string;
    const before = pairs(w.table);
    // The attack of the issue, `old=<buddy>&next=ghost`, whoever signs it.
    expect(await watcher.onReplace(buddy, 'ghost', buddy)).toMatchObject({ ok: false, reason: 'old-still-in-table' });
    expect(await watcher.onReplace(buddy, 'ghost', 'ghost')).toMatchObject({ ok: false, reason: 'old-still-in-table' });
    expect(await watcher.onReplace(buddy, 'ghost')).toMatchObject({ ok: false, reason: 'old-still-in-table' });
    expect(await watcher.onReplace(buddy, 'ghost', 'c')).toMatchObject({ ok: false, reason: 'sender-not-a-party' });
    // A ghost for a node already gone is refused too.
    expect(await watcher.onReplace('gone', 'ghost', 'gone')).toMatchObject({ ok: false, reason: 'next-not-in-table' });
    expect(pairs(w.table)).toEqual(before);
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toMatch(new RegExp(`refused to replace ${buddy} with ghost at the word of ${buddy} \\(old-still-in-table\\)`));
    await jest.advanceTimersByTimeAsync(3000);
    expect(pinged.filter((p) => p === buddy)).toHaveLength(3);
    expect(watcher.stats.declaredDead).toBe(0);
  });

  it('refuses a cut\'s replace that comes after the dead node announced itself again, and the ring stays whole', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    const dead = w.table.a.buddyA as string;
    const other = w.table[dead].buddyA === 'a' ? w.table[dead].buddyB as string : w.table[dead].buddyA as string;
    await w.ports.remove(dead);
    // Merely slow, it comes back (next to `other`) before the cut's message reaches `other`.
    w.joinNext = other;
    await w.ports.announce(dead, `http://${dead}`);
    const before = pairs(w.table);
    // Taken unchecked, the late message would make `other` drop the node that just joined next to it.
    expect(isValidRing(replace(w.table, other, dead, 'a'))).toBe(false);
    const late = new RingWatcher(w.ports, { id: other, address: `http://${other}`, intervalMs: 1000, misses: 3, log: quiet });
    expect(await late.onReplace(dead, 'a', 'a')).toMatchObject({ ok: false, reason: 'old-still-in-table' });
    expect(pairs(w.table)).toEqual(before);
    expect(isValidRing(w.table)).toBe(true);
    watcher.halt();
  });
});
