import { InvalidNotificationError } from '../domain/errors';
import { parseEntries, parseNotification } from './validation';

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
