import fc from 'fast-check';
import { Entry } from '../domain/notification';
import { REASONS, SOURCES, TARGET_TYPES } from '../domain/notification';

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

/** Characters of a target or a request kind (TARGET_PATTERN, KIND_PATTERN). */
const NAME_CHARS = [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-'];

/** A name of 1..`max` pattern characters, often short and sometimes exactly `max` long. */
function arbName(max: number): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: 1, maxLength: Math.min(12, max) }) },
    { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...NAME_CHARS), minLength: max, maxLength: max }) },
  );
}

/** A printable ASCII string of at most `max` characters, sometimes exactly `max`, sometimes empty. */
function arbText(max: number, minLength = 0): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength, maxLength: 20 }) },
    { weight: 1, arbitrary: fc.string({ minLength: max, maxLength: max }) },
  );
}

/** Canonical UTC timestamps (`YYYY-MM-DDTHH:mm:ss.sssZ`) from year 1000 to 9999, leap days included. */
export const arbCanonicalTime: fc.Arbitrary<string> = fc.oneof(
  { weight: 8, arbitrary: fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(9999, 11, 31, 23, 59, 59, 999)), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.constantFrom('2024-02-29T00:00:00.000Z', '2000-02-29T23:59:59.999Z', '1000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z') },
);

/**
 * Notifications that the NotificationDto accepts, with canonical timestamps: every optional field
 * present or absent, lengths up to each limit (ASCII, so the length is the same however counted).
 */
export const arbValidNotification: fc.Arbitrary<Record<string, unknown>> = fc.record(
  {
    target: fc.oneof({ weight: 6, arbitrary: arbName(128) }, { weight: 1, arbitrary: fc.constant('*') }),
    targetType: fc.constantFrom(...TARGET_TYPES),
    available: fc.boolean(),
    reason: fc.constantFrom(...REASONS),
    component: arbText(256),
    message: arbText(1000),
    operatorId: arbText(128),
    source: fc.constantFrom(...SOURCES),
    downAt: arbCanonicalTime,
    expectedUpAt: arbCanonicalTime,
    autoRestore: fc.boolean(),
    requestKinds: fc.oneof(
      { weight: 4, arbitrary: fc.array(arbName(64), { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.array(arbName(64), { minLength: 32, maxLength: 32 }) },
    ),
    timestamp: arbCanonicalTime,
    id: arbText(128, 1),
    priority: fc.integer({ min: 0, max: 9 }),
  },
  { requiredKeys: ['target', 'available'] },
);

const NOTIFICATION_FIELDS = [
  'target', 'targetType', 'available', 'reason', 'component', 'message', 'operatorId', 'source',
  'downAt', 'expectedUpAt', 'autoRestore', 'requestKinds', 'timestamp', 'id', 'priority',
] as const;

const BAD_TIMES = [
  '2026-11-24T10:00:00Z', '2026-11-24T10:00:00.000+00:00', '2026-11-24T11:00:00.000+01:00', '2026-11-24', '2026-11-24T10:00:00.000z',
  '2026-02-30T00:00:00.000Z', '2023-02-29T00:00:00.000Z', '1900-02-29T00:00:00.000Z', '2026-11-24T25:00:00.000Z', '2026-11-24T24:00:00.000Z',
  '0999-12-31T23:59:59.999Z', '0500-06-15T12:00:00.000Z', '0050-06-15T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '+010000-01-01T00:00:00.000Z',
  '2026-11-24T10:00:00.0000Z', ' 2026-11-24T10:00:00.000Z', 'tomorrow', '',
];
/** Values each field must not hold (some the DTO still takes, e.g. a time with an offset). */
const BAD_VALUES: Record<(typeof NOTIFICATION_FIELDS)[number], unknown[]> = {
  target: ['', 'a b', 'x'.repeat(129), 'é', '**', 'mail/send', '*a'],
  targetType: ['server', 'Application', ''],
  available: ['true', 0, 1],
  reason: ['bored', 'Outage', ''],
  component: ['x'.repeat(257), 'x'.repeat(255) + '😀', ['disk']],
  message: ['x'.repeat(1001), '😀'.repeat(501), 'x'.repeat(999) + 'a\uFE0F'],
  operatorId: ['x'.repeat(129), 'x'.repeat(127) + '😀'],
  source: ['robot', 'Operator', ''],
  downAt: BAD_TIMES,
  expectedUpAt: BAD_TIMES,
  autoRestore: ['yes', 1, 0],
  requestKinds: ['send', ['bad kind'], [''], ['x'.repeat(65)], Array.from({ length: 33 }, () => 'a'), [1], [null], [['send']], {}],
  timestamp: BAD_TIMES,
  id: ['', 'x'.repeat(129), 7, 'x'.repeat(127) + '😀', '\uFE0F'],
  priority: [-1, 10, 3.5, Number.NaN, Number.POSITIVE_INFINITY, '3', 9.000001, -0.5],
};
const WRONG_TYPES: unknown[] = [null, undefined, {}, [], true, 0, 'x', 1.5];
const EXTRA_KEYS = ['extra', 'colour', 'Target', 'constructor', '__proto__', 'toString', ''];

type Mutation =
  | { kind: 'delete'; pick: number }
  | { kind: 'replace'; field: (typeof NOTIFICATION_FIELDS)[number]; value: unknown }
  | { kind: 'extra'; key: string; value: unknown };

const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }),
  fc.constantFrom(...NOTIFICATION_FIELDS).chain((field) =>
    fc.record({ kind: fc.constant('replace' as const), field: fc.constant(field), value: fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...BAD_VALUES[field]) }, { weight: 1, arbitrary: fc.constantFrom(...WRONG_TYPES) }) }),
  ),
  fc.record({ kind: fc.constant('extra' as const), key: fc.constantFrom(...EXTRA_KEYS), value: fc.constantFrom<unknown>(1, 'x', null, {}) }),
);

/** Applies one mutation to a plain object in place; an extra key is an own, enumerable property. */
function mutate(o: Record<string, unknown>, m: Mutation): void {
  if (m.kind === 'delete') {
    const keys = Object.keys(o);
    if (keys.length > 0) delete o[keys[m.pick % keys.length]];
  } else if (m.kind === 'replace') o[m.field] = m.value;
  else Object.defineProperty(o, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
}

/**
 * Notifications near the contract: a valid one (arbValidNotification), left as it is about two
 * times in five, else with 1-3 mutations: a key deleted, a field given a bad value or a wrong
 * type, or an unknown key (`__proto__` and `constructor` too) added.
 */
export const arbNearNotification: fc.Arbitrary<{ value: Record<string, unknown>; mutations: number }> = fc
  .tuple(arbValidNotification, fc.oneof({ weight: 2, arbitrary: fc.constant([] as Mutation[]) }, { weight: 3, arbitrary: fc.array(arbMutation, { minLength: 1, maxLength: 3 }) }))
  .map(([valid, mutations]) => {
    const value = { ...valid };
    for (const m of mutations) mutate(value, m);
    return { value, mutations: mutations.length };
  });
