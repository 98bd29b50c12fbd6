/**
 * Checks a condition again and again for a whole period and fails at the first time it does not
 * hold: for a test that must show something does NOT happen during a period (the period is the
 * point of the test, so it is a named argument, not a sleep).
 */
export async function holdsFor(what: string, probe: () => boolean | Promise<boolean>, periodMs: number, everyMs = 100): Promise<void> {
  const end = Date.now() + periodMs;
  for (;;) {
    if (!(await probe())) throw new Error(`${what} stopped holding ${periodMs - Math.max(0, end - Date.now())} ms into a ${periodMs} ms period`);
    if (Date.now() >= end) return;
    await new Promise((r) => setTimeout(r, Math.min(everyMs, Math.max(0, end - Date.now()))));
  }
}
