/** Stops containers started by the global setup, if any. */
export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __brokersStop?: () => Promise<void> }).__brokersStop?.();
}
