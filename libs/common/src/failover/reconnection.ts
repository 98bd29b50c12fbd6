import type { Zone } from './zones';

/**
 * Bringing deferred clients back without pushing the server over the edge again: while its
 * score is in the accept zone (of the track for returning clients), the server invites them in
 * sets of at most `setSize`, at least `intervalMs` apart, the longest-deferred first. A client
 * that hears nothing falls back on its own timeout and retries with the farm's capped, jittered
 * backoff (`backoffDelay` of messaging/retry, with the `failover.backoff` settings). Pure.
 */

export interface DeferredClient {
  id: string;
  /** When the server deferred it (ms). */
  deferredAt: number;
}

export interface ReconnectSettings {
  setSize: number;
  intervalMs: number;
}

export interface ReconnectState {
  /** Clients still to invite, longest-deferred first (ties by id). */
  waiting: DeferredClient[];
  /** When the last set was invited. */
  lastInvitedAt?: number;
}

const order = (a: DeferredClient, b: DeferredClient): number => a.deferredAt - b.deferredAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Adds clients just deferred; one already waiting keeps its place. */
export function addDeferred(state: ReconnectState, clients: readonly DeferredClient[]): ReconnectState {
  const known = new Set(state.waiting.map((c) => c.id));
  const waiting = [...state.waiting];
  for (const c of clients) {
    if (known.has(c.id)) continue;
    known.add(c.id);
    waiting.push({ id: c.id, deferredAt: c.deferredAt });
  }
  return { ...state, waiting: waiting.sort(order) };
}

/** Removes clients that came back on their own (client-initiated) or went elsewhere for good. */
export function dropWaiting(state: ReconnectState, ids: Iterable<string>): ReconnectState {
  const gone = new Set(ids);
  return { ...state, waiting: state.waiting.filter((c) => !gone.has(c.id)) };
}

export interface InvitationPlan {
  /** Clients to invite now, at most `setSize`. */
  invite: string[];
  state: ReconnectState;
  /** Earliest time the next set may go, while clients wait and the zone stays accept. */
  nextAt?: number;
}

/** Which deferred clients to invite at `now`, given the zone their return is judged by. */
export function planInvitations(state: ReconnectState, now: number, zone: Zone, settings: ReconnectSettings): InvitationPlan {
  if (zone !== 'accept' || state.waiting.length === 0) return { invite: [], state };
  const dueAt = state.lastInvitedAt === undefined ? now : state.lastInvitedAt + settings.intervalMs;
  if (now < dueAt) return { invite: [], state, nextAt: dueAt };
  const size = Math.max(1, Math.floor(settings.setSize));
  const invited = state.waiting.slice(0, size);
  const next: ReconnectState = { waiting: state.waiting.slice(size), lastInvitedAt: now };
  return { invite: invited.map((c) => c.id), state: next, nextAt: next.waiting.length > 0 ? now + settings.intervalMs : undefined };
}
