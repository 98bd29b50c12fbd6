import fc from 'fast-check';
import { AVAILABILITY_PAGE_DEFAULT, AVAILABILITY_PAGE_MAX, AvailabilityPage, pageOf, parsePageQuery, readAllAvailability } from './availability-pages';

describe('parsePageQuery', () => {
  it('defaults, accepts the range and refuses the rest with field errors', () => {
    expect(parsePageQuery(undefined, undefined)).toEqual({ value: { limit: AVAILABILITY_PAGE_DEFAULT } });
    expect(parsePageQuery('1', 'application|mail|*')).toEqual({ value: { limit: 1, after: 'application|mail|*' } });
    expect(parsePageQuery(String(AVAILABILITY_PAGE_MAX), '')).toEqual({ value: { limit: AVAILABILITY_PAGE_MAX } });
    for (const bad of ['0', '10001', '-1', '1.5', 'abc', '', '1e3']) expect(parsePageQuery(bad, undefined).errors?.[0].field).toBe('limit');
    expect(parsePageQuery(undefined, 'x'.repeat(2000)).errors?.[0].field).toBe('after');
  });
});

describe('pageOf', () => {
  const keys = ['a', 'b', 'c', 'd', 'e'];
  it('pages in key order with a cursor, null after the last page', () => {
    expect(pageOf(keys, keys, { limit: 2 })).toEqual({ entries: ['a', 'b'], next: 'b' });
    expect(pageOf(keys, keys, { limit: 2, after: 'b' })).toEqual({ entries: ['c', 'd'], next: 'd' });
    expect(pageOf(keys, keys, { limit: 2, after: 'd' })).toEqual({ entries: ['e'], next: null });
    expect(pageOf(keys, keys, { limit: 5 })).toEqual({ entries: keys, next: null });
    expect(pageOf([], [], { limit: 5 })).toEqual({ entries: [], next: null });
  });

  it('resumes after a cursor the state no longer holds', () => {
    expect(pageOf(keys, keys, { limit: 2, after: 'bb' })).toEqual({ entries: ['c', 'd'], next: 'd' });
    expect(pageOf(keys, keys, { limit: 2, after: 'z' })).toEqual({ entries: [], next: null });
  });

  it('property: following next visits every entry once, in order, with no page over the limit', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ maxLength: 6 }), { maxLength: 60 }), fc.integer({ min: 1, max: 20 }), (raw, limit) => {
        const sorted = [...raw].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        const seen: string[] = [];
        let after: string | undefined;
        for (let i = 0; i <= sorted.length; i++) {
          const p = pageOf(sorted, sorted, { limit, after });
          expect(p.entries.length).toBeLessThanOrEqual(limit);
          seen.push(...p.entries);
          if (p.next === null) break;
          after = p.next;
        }
        expect(seen).toEqual(sorted);
      }),
    );
  });
});

describe('readAllAvailability', () => {
  function node(states: string[][]) {
    let reads = 0;
    const urls: string[] = [];
    const getJson = async (url: string): Promise<AvailabilityPage<string>> => {
      urls.push(url);
      const u = new URL(url);
      const state = states[Math.min(reads++, states.length - 1)];
      const p = pageOf(state, state, { limit: Number(u.searchParams.get('limit')), after: u.searchParams.get('after') ?? undefined });
      return { nodeId: 'n', count: state.length, digest: state.join(','), ...p };
    };
    return { getJson, urls };
  }

  it('follows next until the last page and returns every entry', async () => {
    const n = node([['a', 'b', 'c', 'd', 'e']]);
    const all = await readAllAvailability<string>('http://x', n.getJson, { pageSize: 2 });
    expect(all).toEqual({ nodeId: 'n', count: 5, digest: 'a,b,c,d,e', entries: ['a', 'b', 'c', 'd', 'e'], next: null });
    expect(n.urls).toEqual(['http://x/v1/availability?limit=2', 'http://x/v1/availability?limit=2&after=b', 'http://x/v1/availability?limit=2&after=d']);
  });

  it('starts over when the state changes between pages', async () => {
    // The first page comes from the old state, the rest from the new one: the read is redone.
    const n = node([['a', 'b', 'c'], ['a', 'b', 'c', 'd']]);
    const all = await readAllAvailability<string>('http://x', n.getJson, { pageSize: 2 });
    expect(all.entries).toEqual(['a', 'b', 'c', 'd']);
    expect(all.count).toBe(4);
    expect(n.urls).toHaveLength(4);
  });
});
