import fc from 'fast-check';
import { arbNearNotification, arbValidNotification } from '../testing/arbitraries';
import { certainlyValidNotification } from './fast-check-notification';
import { NotificationDto } from './notification.dto';
import { checkDto } from './validation';

/** The definition of the contract: what parseNotification's slow path accepts. */
const dtoAccepts = (v: unknown): boolean => checkDto(NotificationDto, v).value !== undefined;

const RUNS = 2000;
/** Share of samples each branch of a property must reach, or the property says little. */
const MIN_SHARE = 0.2;

describe('certainlyValidNotification', () => {
  it('never accepts what the class-validator DTO refuses, and both branches run often', () => {
    const seen = { samples: 0, certain: 0, doubtful: 0, refused: 0, mutated: 0 };
    fc.assert(
      fc.property(arbNearNotification, ({ value, mutations }) => {
        seen.samples++;
        if (mutations > 0) seen.mutated++;
        const accepted = dtoAccepts(value);
        if (!accepted) seen.refused++;
        if (certainlyValidNotification(value)) {
          seen.certain++;
          expect(accepted).toBe(true);
        } else {
          seen.doubtful++;
        }
      }),
      { numRuns: RUNS },
    );
    // The fast path accepted, the fast path deferred, and the DTO refused, each in a fair share.
    expect(seen.samples).toBe(RUNS);
    expect(seen.certain / seen.samples).toBeGreaterThanOrEqual(MIN_SHARE);
    expect(seen.doubtful / seen.samples).toBeGreaterThanOrEqual(MIN_SHARE);
    expect(seen.refused / seen.samples).toBeGreaterThanOrEqual(MIN_SHARE);
    expect(seen.mutated / seen.samples).toBeGreaterThanOrEqual(MIN_SHARE);
  });

  it('accepts every notification the contract allows when its times are canonical, as the DTO does', () => {
    fc.assert(
      fc.property(arbValidNotification, (value) => {
        expect(dtoAccepts(value)).toBe(true);
        expect(certainlyValidNotification(value)).toBe(true);
      }),
      { numRuns: 500 },
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

  it('leaves years before 1000 to class-validator, which reads them by the local time zone or refuses them', () => {
    for (const t of ['0999-12-31T23:59:59.999Z', '0500-06-15T12:00:00.000Z', '0001-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z']) {
      expect(certainlyValidNotification({ target: 'mail', available: true, timestamp: t })).toBe(false);
    }
    expect(dtoAccepts({ target: 'mail', available: true, timestamp: '0001-01-01T00:00:00.000Z' })).toBe(false);
    expect(certainlyValidNotification({ target: 'mail', available: true, timestamp: '1000-01-01T00:00:00.000Z' })).toBe(true);
  });
});
