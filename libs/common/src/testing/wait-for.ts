/** Thrown by a probe to stop waiting at once (the condition can no longer come true). */
export class GiveUp extends Error {}

/** Polls a condition until it holds (returns a truthy value) or the timeout expires. */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, timeoutMs = 10_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      if (err instanceof GiveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) {
      const why = last !== null && typeof last === 'object' && 'message' in last ? String((last as { message: unknown }).message) : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${why})`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
