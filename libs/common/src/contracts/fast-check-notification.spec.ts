import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import fc from 'fast-check';
import { certainlyValidNotification } from './fast-check-notification';
import { NotificationDto } from './notification.dto';

const OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true };
const classValidatorAccepts = (v: object): boolean => validateSync(plainToInstance(NotificationDto, v), OPTIONS).length === 0;

const anyValue = fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.string({ maxLength: 3 }), { maxLength: 3 }));
const time = fc.oneof(
  fc.date({ min: new Date(0), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constantFrom('2026-02-30T00:00:00.000Z', '2026-11-24T10:00:00Z', '2026-11-24', 'tomorrow', '2026-11-24T25:00:00.000Z'),
);
/** Objects near the contract: each field right, wrong, or absent; sometimes an extra key. */
const nearNotification = fc.record(
  {
    target: fc.oneof(fc.constantFrom('mail', '*', 'db-main', 'a b', '', 'x'.repeat(129)), anyValue),
    targetType: fc.oneof(fc.constantFrom('application', 'resource', 'server'), anyValue),
    available: fc.oneof(fc.boolean(), anyValue),
    reason: fc.oneof(fc.constantFrom('unknown', 'maintenance', 'outage', 'testing', 'bored'), anyValue),
    component: fc.oneof(fc.string({ maxLength: 300 }), anyValue),
    message: fc.oneof(fc.string({ maxLength: 1100 }), anyValue),
    operatorId: fc.oneof(fc.string({ maxLength: 140 }), anyValue),
    source: fc.oneof(fc.constantFrom('operator', 'monitor', 'robot'), anyValue),
    downAt: fc.oneof(time, anyValue),
    expectedUpAt: fc.oneof(time, anyValue),
    autoRestore: fc.oneof(fc.boolean(), anyValue),
    requestKinds: fc.oneof(fc.array(fc.constantFrom('send', 'read', 'bad kind', ''), { maxLength: 4 }), anyValue),
    timestamp: fc.oneof(time, anyValue),
    id: fc.oneof(fc.string({ minLength: 0, maxLength: 130 }), anyValue),
    priority: fc.oneof(fc.integer({ min: -1, max: 10 }), fc.double(), anyValue),
    extra: anyValue,
  },
  { requiredKeys: [] },
);

describe('certainlyValidNotification', () => {
  it('never accepts what the class-validator DTO refuses', () => {
    fc.assert(
      fc.property(nearNotification, (v) => {
        if (certainlyValidNotification(v)) expect(classValidatorAccepts(v)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('accepts the notifications repeaters re-broadcast, so the hot path is taken', () => {
    expect(certainlyValidNotification({ target: 'mail', targetType: 'application', available: false, reason: 'outage', source: 'operator', timestamp: '2026-11-24T10:00:00.000Z', id: 'x', priority: 3, requestKinds: ['send'], expectedUpAt: '2026-11-24T12:00:00.000Z' })).toBe(true);
    expect(certainlyValidNotification({ target: 'mail', available: true })).toBe(true);
  });

  it('leaves doubtful input to class-validator', () => {
    expect(certainlyValidNotification({ target: 'mail', available: true, reason: null })).toBe(false);
    expect(certainlyValidNotification(JSON.parse('{"target":"mail","available":true,"__proto__":{}}'))).toBe(false);
    expect(certainlyValidNotification({ target: 'mail', available: true, timestamp: '2026-11-24T10:00:00Z' })).toBe(false);
  });
});
