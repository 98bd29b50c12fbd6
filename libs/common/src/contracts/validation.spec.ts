import { InvalidNotificationError } from '../domain/errors';
import { MAX_NORMALISED_BYTES } from '../messaging/fanout-batcher';
import { amqpTimestamp, assertSafeShape, parseEntries, parseNotification } from './validation';

function refusal(input: unknown): InvalidNotificationError {
  try {
    parseNotification(input);
  } catch (err) {
    if (err instanceof InvalidNotificationError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('parseNotification', () => {
  const now = () => new Date('2026-11-24T10:00:00.000Z');

  it('applies defaults and assigns id and timestamp', () => {
    const n = parseNotification('{"target":"mail","available":false}', { now, newId: () => 'id-1' });
    expect(n).toEqual({ target: 'mail', targetType: 'application', available: false, reason: 'unknown', source: 'operator', timestamp: '2026-11-24T10:00:00.000Z', id: 'id-1', priority: 0 });
  });

  it('keeps every contract field and normalises times', () => {
    const n = parseNotification({
      target: 'db', targetType: 'resource', available: false, reason: 'maintenance', component: 'disk', message: 'swap',
      operatorId: 'op7', source: 'monitor', downAt: '2026-11-24T12:00:00Z', expectedUpAt: '2026-11-24T13:00:00+01:00',
      autoRestore: true, requestKinds: ['send', 'send', 'read'], timestamp: '2026-11-24T09:00:00.123Z', id: 'x', priority: 7,
    });
    expect(n).toEqual({
      target: 'db', targetType: 'resource', available: false, reason: 'maintenance', component: 'disk', message: 'swap',
      operatorId: 'op7', source: 'monitor', downAt: '2026-11-24T12:00:00.000Z', expectedUpAt: '2026-11-24T12:00:00.000Z',
      autoRestore: true, requestKinds: ['send', 'read'], timestamp: '2026-11-24T09:00:00.123Z', id: 'x', priority: 7,
    });
  });

  it('takes the AMQP priority when the body has none', () => {
    expect(parseNotification({ target: 'a', available: true }, { priority: 5 }).priority).toBe(5);
  });

  it.each([
    ['malformed JSON', '{"target":', ''],
    ['a non-object', '[1,2]', ''],
    ['a missing field', '{"target":"mail"}', 'available'],
    ['a wrong type', '{"target":"mail","available":"no"}', 'available'],
    ['an unknown field', '{"target":"mail","available":true,"colour":"red"}', 'colour'],
    ['a bad target', '{"target":"a b","available":true}', 'target'],
    ['a bad reason', '{"target":"a","available":false,"reason":"bored"}', 'reason'],
    ['a bad priority', '{"target":"a","available":true,"priority":10}', 'priority'],
    ['a bad date', '{"target":"a","available":true,"downAt":"tomorrow"}', 'downAt'],
    ['a __proto__ key', '{"target":"a","available":true,"__proto__":{"polluted":true}}', '__proto__'],
    ['a nested __proto__', '{"target":"a","available":true,"requestKinds":[{"__proto__":{}}]}', 'requestKinds.0.__proto__'],
    ['a too long message', JSON.stringify({ target: 'a', available: true, message: 'x'.repeat(1001) }), 'message'],
  ])('refuses %s with the field named', (_what, body, field) => {
    const err = refusal(body);
    expect(err.errors.map((e) => e.field)).toContain(field);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a 10 MB body without parsing it', () => {
    const err = refusal(Buffer.alloc(10 * 1024 * 1024, 0x20));
    expect(err.message).toMatch(/exceeds/);
  });
});

describe('parseEntries', () => {
  it('validates nested entries', () => {
    const good = { targetType: 'application', target: 'mail', kind: '*', available: true, source: 'operator', timestamp: '2026-11-24T10:00:00.000Z', id: 'a', priority: 0 };
    expect(parseEntries({ entries: [good] })).toHaveLength(1);
    expect(() => parseEntries({ entries: [{ ...good, available: 'yes' }] })).toThrow(/entries\.0\.available/);
    expect(() => parseEntries({ entries: [{ ...good, extra: 1 }] })).toThrow(InvalidNotificationError);
  });
});

describe('inputs that could do lasting harm', () => {
  const now = Date.UTC(2026, 10, 27, 12);
  const bounds = { now: () => now, maxFutureMs: 300_000, retentionMs: 30 * 24 * 3600 * 1000 };

  it('refuses a timestamp further ahead of the receiver clock than the bound, and a stale one', () => {
    expect(() => parseNotification({ target: '*', available: true, timestamp: '9999-12-31T23:59:59.999Z' }, { bounds })).toThrow(/ahead of this receiver's clock/);
    expect(() => parseNotification({ target: 'mail', available: true, timestamp: new Date(now + 301_000).toISOString() }, { bounds })).toThrow(InvalidNotificationError);
    expect(parseNotification({ target: 'mail', available: true, timestamp: new Date(now + 299_000).toISOString() }, { bounds }).target).toBe('mail');
    expect(() => parseNotification({ target: 'mail', available: false, timestamp: new Date(now - 31 * 24 * 3600 * 1000).toISOString() }, { bounds })).toThrow(/stale/);
  });

  it('refuses times without a zone, and out-of-range dates, as 400s rather than exceptions', () => {
    expect(() => parseNotification({ target: 'mail', available: true, timestamp: '2026-11-27T10:00:00' })).toThrow(/zone/);
    expect(() => parseNotification({ target: 'mail', available: true, expectedUpAt: '2026-11-27T10:00:00.000' })).toThrow(InvalidNotificationError);
    expect(parseNotification({ target: 'mail', available: true, timestamp: '2026-11-27T10:00:00+05:30' }).timestamp).toBe('2026-11-27T04:30:00.000Z');
    expect(() => parseNotification({ target: 'mail', available: true, timestamp: '+275760-09-13T00:00:00.000Z' })).toThrow(InvalidNotificationError);
  });

  it('refuses nesting thousands deep without recursion (no stack overflow)', () => {
    const deep = `{"target":"mail","available":true,"message":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(() => parseNotification(deep)).toThrow(/nested deeper than/);
    let v: unknown = 1;
    for (let i = 0; i < 200_000; i++) v = [v];
    expect(() => assertSafeShape({ x: v })).toThrow(InvalidNotificationError);
    expect(() => assertSafeShape({ a: { b: { c: 1 } } })).not.toThrow();
  });

  it('refuses bytes that are not UTF-8', () => {
    const bad = Buffer.concat([Buffer.from('{"target":"mail","available":true,"message":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
    expect(() => parseNotification(bad)).toThrow(/UTF-8/);
  });

  it('reads the AMQP timestamp property only when it is a representable date', () => {
    expect(amqpTimestamp(undefined)).toBeUndefined();
    expect(amqpTimestamp(1_764_000_000)?.toISOString()).toBe(new Date(1_764_000_000_000).toISOString());
    expect(() => amqpTimestamp(1e13)).toThrow(InvalidNotificationError);
    expect(() => amqpTimestamp(-5)).toThrow(InvalidNotificationError);
    expect(() => amqpTimestamp('soon')).toThrow(InvalidNotificationError);
  });

  it('the largest notification the contract allows stays under the re-broadcast bound per notification', () => {
    const worst = '\u0001'.repeat(1000);
    const n = parseNotification({
      target: 'x'.repeat(128), targetType: 'resource', available: false, reason: 'maintenance', component: '\u0001'.repeat(256), message: worst,
      operatorId: '\u0001'.repeat(128), source: 'monitor', downAt: '2026-11-27T10:00:00.000Z', expectedUpAt: '2026-11-27T10:00:00.000Z', autoRestore: true,
      requestKinds: Array.from({ length: 32 }, (_, i) => `${i}`.padEnd(64, 'k')), timestamp: '2026-11-27T10:00:00.000Z', id: '\u0001'.repeat(128), priority: 9,
    });
    expect(Buffer.byteLength(JSON.stringify(n))).toBeLessThan(MAX_NORMALISED_BYTES);
  });
});
