/**
 * How often the attendant may restart one service: at most `max` restarts in any `windowMs`
 * (a sliding window). The restart that would be one too many is refused, and from then on the
 * attendant stops trying for that service and says so once (as Monit stops monitoring), until an
 * operator resets it. Pure: state and time in, decision and new state out.
 */

export interface RestartLimit {
  max: number;
  windowMs: number;
}

export interface RestartState {
  /** Times of the restarts allowed within the last window, oldest first. */
  recent: number[];
  /** Set when the limit was reached: the attendant has stopped trying. */
  gaveUpAt?: number;
}

export type RestartDecision =
  | { allowed: true; state: RestartState; message: string }
  | { allowed: false; state: RestartState; message: string; /** True only for the refusal that makes it give up, so it is said once. */ announce: boolean };

export function decideRestart(state: RestartState, now: number, limit: RestartLimit, service: string): RestartDecision {
  const recent = state.recent.filter((t) => t > now - limit.windowMs);
  if (state.gaveUpAt !== undefined) {
    return { allowed: false, state: { ...state, recent }, announce: false, message: `${service}: not restarted; restarts stopped at ${new Date(state.gaveUpAt).toISOString()} after ${limit.max} in ${limit.windowMs} ms` };
  }
  if (recent.length >= limit.max) {
    return { allowed: false, state: { recent, gaveUpAt: now }, announce: true, message: `${service}: restarted ${recent.length} times within ${limit.windowMs} ms; stopping restarts until an operator resets them` };
  }
  return { allowed: true, state: { recent: [...recent, now] }, message: `${service}: restart ${recent.length + 1} of at most ${limit.max} within ${limit.windowMs} ms` };
}

/** The state of a service never restarted, and after an operator's reset: restarts are tried again, with a fresh window. */
export function freshRestarts(): RestartState {
  return { recent: [] };
}
