import { RingRow, RingTable, announce, remove, replace } from '../domain/ring';
import { RingPeer, RingPorts, RingWatcher } from './ring-watcher';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

interface World {
  down: Set<string>;
  storeUp: boolean;
  removed: string[];
  told: string[];
  readonly table: RingTable;
  ports: RingPorts;
}

/** An in-memory table and network: `down` nodes do not answer; `storeUp` says whether Redis does. */
function world(ids: string[]): World {
  let table: RingTable = {};
  for (const id of ids) table = announce(table, id, `http://${id}`, Object.keys(table)[0]);
  const w: World = {
    down: new Set<string>(),
    storeUp: true,
    removed: [] as string[],
    told: [] as string[],
    get table(): RingTable {
      return table;
    },
    ports: {
      read: async () => ({ ...table }) as Record<string, RingRow>,
      announce: async (id: string, address: string) => (table = announce(table, id, address, Object.keys(table)[0])),
      remove: async (id: string) => {
        const r = remove(table, id);
        table = r.table;
        if (r.buddies) w.removed.push(id);
        return r.buddies;
      },
      replace: async (id: string, old: string, next: string) => void (table = replace(table, id, old, next)),
      ping: async (address: string) => !w.down.has(address.slice(7)),
      probeVia: async (_via: RingPeer, target: string) => !w.down.has(target),
      tellReplace: async (to: RingPeer, old: string, next: string) => void w.told.push(`${to.address.slice(7)}:${old}->${next}`),
      storeReachable: () => w.storeUp,
    },
  };
  return w;
}

describe('RingWatcher', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function watch(w: World, id: string): Promise<RingWatcher> {
    const watcher = new RingWatcher(w.ports, { id, address: `http://${id}`, intervalMs: 1000, misses: 3, log: quiet });
    await watcher.start();
    return watcher;
  }

  it('pings exactly its two buddies each round', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const pinged: string[] = [];
    const ping = w.ports.ping;
    w.ports.ping = async (address: string, timeoutMs: number) => {
      pinged.push(address.slice(7));
      return ping(address, timeoutMs);
    };
    const watcher = await watch(w, 'a');
    const { buddyA, buddyB } = w.table.a;
    expect(buddyA).not.toBe(buddyB);
    await jest.advanceTimersByTimeAsync(5000);
    expect(watcher.stats.rounds).toBe(5);
    expect(watcher.stats.pings).toBe(10);
    expect(pinged).toHaveLength(10);
    for (let round = 0; round < 5; round++) expect(pinged.slice(2 * round, 2 * round + 2).sort()).toEqual([buddyA, buddyB].sort());
  });

  it('cuts out a buddy after the misses and a failed indirect probe, and tells the other buddy', async () => {
    const w = world(['a', 'b', 'c', 'd']);
    const watcher = await watch(w, 'a');
    const dead = w.table.a.buddyA as string;
    const other = w.table[dead].buddyA === 'a' ? w.table[dead].buddyB : w.table[dead].buddyA;
    const probes: string[] = [];
    const probeVia = w.ports.probeVia;
    w.ports.probeVia = async (via: RingPeer, target: string, timeoutMs: number) => {
      expect(via.address).toBe(`http://${via.id}`);
      probes.push(`${via.id}->${target}`);
      return probeVia(via, target, timeoutMs);
    };
    w.down.add(dead);
    await jest.advanceTimersByTimeAsync(2000);
    expect(w.removed).toEqual([]);
    expect(probes).toEqual([]);
    await jest.advanceTimersByTimeAsync(1000);
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
    await jest.advanceTimersByTimeAsync(6000);
    // Three misses, a probe that reaches it; three more, another probe.
    const other = w.table[unpingable].buddyA === 'a' ? w.table[unpingable].buddyB : w.table[unpingable].buddyA;
    expect(probes).toEqual([`${other}->${unpingable}`, `${other}->${unpingable}`]);
    expect(w.removed).toEqual([]);
    expect(watcher.stats.declaredDead).toBe(0);
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
});
