import fc from 'fast-check';
import { Entry } from '../domain/notification';

/** fast-check arbitraries for entries over a small key space, so collisions happen. */
export const arbEntry: fc.Arbitrary<Entry> = fc
  .record({
    targetType: fc.constantFrom('application' as const, 'resource' as const),
    target: fc.constantFrom('mail', 'web', 'db', '*'),
    kind: fc.constantFrom('*', 'send', 'read'),
    available: fc.boolean(),
    reason: fc.constantFrom('unknown' as const, 'maintenance' as const, 'outage' as const),
    message: fc.option(fc.string({ maxLength: 8 }), { nil: undefined }),
    ts: fc.integer({ min: 0, max: 20 }),
    id: fc.constantFrom('a', 'b', 'c', 'd'),
  })
  .map((r) => {
    const e: Entry = {
      targetType: r.target === '*' ? 'application' : r.targetType,
      target: r.target,
      kind: r.kind,
      available: r.available,
      source: 'operator',
      timestamp: new Date(Date.UTC(2026, 0, 1) + r.ts * 1000).toISOString(),
      id: r.id,
      priority: 0,
    };
    if (!r.available) e.reason = r.reason;
    if (r.message !== undefined) e.message = r.message;
    return e;
  });
