/**
 * Which of a server's clients to defer, and how many. The strategy orders the clients; the
 * count takes the first ones. Deterministic: every tie is broken by client id. Pure.
 */

export interface ClientInfo {
  id: string;
  group?: string;
  address: string;
  /** Round trip the client measured to this server, ms; unknown counts as the lowest. */
  latencyMs?: number;
}

export type DeferralStrategy =
  /** The listed clients first, in the list's order; the others after them. */
  | { by: 'list'; list: readonly string[] }
  /** By the order of the groups (a group not listed comes after every listed one). */
  | { by: 'group'; groups: readonly string[] }
  /** Highest latency first (the clients farthest away in the network). */
  | { by: 'latency' };

/** How many: an exact count, or a fraction of the connected clients (rounded up, so never none of some). */
export type DeferralAmount = { count: number } | { fraction: number };

export interface DeferralSettings {
  strategy: DeferralStrategy;
  amount: DeferralAmount;
}

const byId = (a: ClientInfo, b: ClientInfo): number => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Position of each key in a list, the first occurrence winning; anything absent ranks after all. */
function ranker(list: readonly string[]): (key: string | undefined) => number {
  const pos = new Map<string, number>();
  list.forEach((k, i) => {
    if (!pos.has(k)) pos.set(k, i);
  });
  return (key) => (key !== undefined && pos.has(key) ? (pos.get(key) as number) : list.length);
}

/** Every client, in the order the strategy defers them. */
export function deferralOrder(clients: readonly ClientInfo[], strategy: DeferralStrategy): ClientInfo[] {
  const sorted = [...clients];
  switch (strategy.by) {
    case 'list': {
      const rank = ranker(strategy.list);
      return sorted.sort((a, b) => rank(a.id) - rank(b.id) || byId(a, b));
    }
    case 'group': {
      const rank = ranker(strategy.groups);
      return sorted.sort((a, b) => rank(a.group) - rank(b.group) || byId(a, b));
    }
    case 'latency': {
      const lat = (c: ClientInfo): number => (typeof c.latencyMs === 'number' && Number.isFinite(c.latencyMs) ? c.latencyMs : -Infinity);
      return sorted.sort((a, b) => (lat(a) === lat(b) ? byId(a, b) : lat(b) - lat(a)));
    }
  }
}

/** How many of `total` clients the amount means. */
export function deferralCount(amount: DeferralAmount, total: number): number {
  const n = 'count' in amount ? Math.floor(amount.count) : Math.ceil(amount.fraction * total);
  return Math.max(0, Math.min(total, n));
}

/**
 * The clients to defer now. `everyone` (a mandatory service is down) defers them all, still in
 * the strategy's order, so the messages go out to the first in line first.
 */
export function chooseDeferred(clients: readonly ClientInfo[], settings: DeferralSettings, everyone = false): ClientInfo[] {
  const order = deferralOrder(clients, settings.strategy);
  return everyone ? order : order.slice(0, deferralCount(settings.amount, order.length));
}
