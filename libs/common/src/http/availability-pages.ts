/**
 * Paging of `GET /v1/availability`: the node answers at most `limit` entries in key order after
 * the `after` cursor, with `next` (the cursor of the following page, or null on the last one).
 * `count` and `digest` always describe the whole state, so a reader can tell when the state
 * changed under it. `readAllAvailability` follows `next` until done.
 */

export const AVAILABILITY_PAGE_DEFAULT = 1000;
export const AVAILABILITY_PAGE_MAX = 10_000;
const CURSOR_MAX_CHARS = 1024;

export interface AvailabilityPage<E = unknown> {
  nodeId: string;
  /** Entries in the whole state (not in this page). */
  count: number;
  /** Digest of the whole state. */
  digest: string;
  /** This page's entries, in key order. */
  entries: E[];
  /** Cursor for the next page (`?after=`), null when this page is the last. */
  next: string | null;
}

export interface PageQuery {
  limit: number;
  after?: string;
}

/** Reads `?limit=&after=` (pure): a field error for a bad value, else the page wanted. */
export function parsePageQuery(limit: string | undefined, after: string | undefined): { value: PageQuery; errors?: undefined } | { value?: undefined; errors: { field: string; message: string }[] } {
  const errors: { field: string; message: string }[] = [];
  let n = AVAILABILITY_PAGE_DEFAULT;
  if (limit !== undefined) {
    n = /^\d{1,6}$/.test(limit) ? Number(limit) : NaN;
    if (!(n >= 1 && n <= AVAILABILITY_PAGE_MAX)) errors.push({ field: 'limit', message: `limit must be an integer from 1 to ${AVAILABILITY_PAGE_MAX}` });
  }
  if (after !== undefined && (typeof after !== 'string' || after.length > CURSOR_MAX_CHARS)) errors.push({ field: 'after', message: `after must be a cursor of at most ${CURSOR_MAX_CHARS} characters (the \`next\` of the previous page)` });
  if (errors.length) return { errors };
  return { value: { limit: n, after: after === '' ? undefined : after } };
}

/** Index of the first key greater than `after` in sorted `keys` (pure; binary search). */
function firstAfter(keys: readonly string[], after: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (keys[mid] <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * One page of entries sorted by key (pure): up to `limit` entries whose keys come after `after`
 * (from the start without it), and the cursor of the next page. A cursor need not be a key the
 * state still holds: paging resumes at the first key after it.
 */
export function pageOf<E>(sorted: readonly E[], keys: readonly string[], q: PageQuery): { entries: E[]; next: string | null } {
  const start = q.after === undefined ? 0 : firstAfter(keys, q.after);
  const end = Math.min(sorted.length, start + q.limit);
  return { entries: sorted.slice(start, end), next: end < sorted.length && end > start ? keys[end - 1] : null };
}

/**
 * Reads a node's whole state by following `next` from `GET <baseUrl>/v1/availability`.
 * `getJson` fetches one URL and returns its JSON (throwing on failure). When the state changes
 * while the pages are read (the digest differs between pages), the read starts over, up to
 * `attempts` times; the last read is returned as it is. The result has every entry and `next: null`.
 */
export async function readAllAvailability<E = unknown>(
  baseUrl: string,
  getJson: (url: string) => Promise<unknown>,
  opts: { pageSize?: number; attempts?: number } = {},
): Promise<AvailabilityPage<E>> {
  const attempts = opts.attempts ?? 5;
  let result: AvailabilityPage<E> | undefined;
  for (let attempt = 0; attempt < attempts; attempt++) {
    result = undefined;
    let changed = false;
    let after: string | null = null;
    do {
      const params = new URLSearchParams({ limit: String(opts.pageSize ?? AVAILABILITY_PAGE_MAX) });
      if (after !== null) params.set('after', after);
      const page = (await getJson(`${baseUrl}/v1/availability?${params.toString()}`)) as AvailabilityPage<E>;
      if (!page || !Array.isArray(page.entries)) throw new Error(`GET ${baseUrl}/v1/availability: not an availability page`);
      if (result === undefined) result = { ...page, entries: [...page.entries], next: null };
      else {
        if (page.digest !== result.digest) changed = true;
        result.entries.push(...page.entries);
        result.count = page.count;
        result.digest = page.digest;
      }
      after = page.next ?? null;
    } while (after !== null);
    if (!changed) return result;
  }
  return result!;
}
