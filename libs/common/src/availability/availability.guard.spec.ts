import { retryAfterSeconds } from './availability.guard';

describe('retryAfterSeconds', () => {
  const now = Date.parse('2026-11-24T10:00:00.000Z');
  it('counts whole seconds to the expected return, at least one', () => {
    expect(retryAfterSeconds({ available: false, expectedUpAt: '2026-11-24T12:00:00.000Z' }, now)).toBe(7200);
    expect(retryAfterSeconds({ available: false, expectedUpAt: '2026-11-24T10:00:00.200Z' }, now)).toBe(1);
    expect(retryAfterSeconds({ available: false, expectedUpAt: '2026-11-24T09:00:00.000Z' }, now)).toBe(1);
  });
  it('has none without an expected return', () => {
    expect(retryAfterSeconds({ available: false }, now)).toBeUndefined();
  });
});
