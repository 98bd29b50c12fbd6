import { EventEmitter } from 'node:events';
import type { NextFunction, Request, Response } from 'express';
import { EventLoopMeter, InFlightLimiter, isLightPath } from './in-flight';

/** A response that records what the limiter answered and can be finished or closed by the test. */
function response() {
  const res = Object.assign(new EventEmitter(), {
    statusCode: 200,
    headers: {} as Record<string, string>,
    body: undefined as unknown,
    setHeader(k: string, v: string) {
      this.headers[k] = v;
    },
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    json(b: unknown) {
      this.body = b;
      return this;
    },
  });
  return res;
}

function call(limiter: InFlightLimiter, path = '/v1/availability') {
  const res = response();
  let passed = false;
  limiter.middleware({ path } as Request, res as unknown as Response, (() => (passed = true)) as NextFunction);
  return { res, passed };
}

describe('InFlightLimiter', () => {
  it('serves up to the limit at once and answers one more 503 with Retry-After, counting it', () => {
    let shed = 0;
    const limiter = new InFlightLimiter(2, () => shed++);
    const a = call(limiter);
    const b = call(limiter);
    const c = call(limiter);
    expect([a.passed, b.passed, c.passed]).toEqual([true, true, false]);
    expect(limiter.current).toBe(2);
    expect(c.res.statusCode).toBe(503);
    expect(c.res.headers['Retry-After']).toBe('1');
    expect(c.res.body).toMatchObject({ error: 'overloaded', limit: 2 });
    expect([limiter.shed, shed]).toEqual([1, 1]);
  });

  it('frees a place when a response finishes or its connection closes, once even if both happen', () => {
    const limiter = new InFlightLimiter(1);
    const a = call(limiter);
    a.res.emit('finish');
    a.res.emit('close');
    expect(limiter.current).toBe(0);
    const b = call(limiter);
    expect(b.passed).toBe(true);
    b.res.emit('close');
    expect(limiter.current).toBe(0);
  });

  it('neither counts nor refuses probes, scrapes, buddy pings, API pages and live feeds', () => {
    const limiter = new InFlightLimiter(1);
    call(limiter);
    for (const p of ['/v1/health', '/v1/health/ready', '/metrics', '/v1/ring/ping', '/v1/events', '/openapi.json', '/docs', '/docs/swagger-ui.css']) {
      expect(isLightPath(p)).toBe(true);
      expect(call(limiter, p).passed).toBe(true);
    }
    expect(limiter.current).toBe(1);
    expect(isLightPath('/v1/availability')).toBe(false);
    expect(isLightPath('/metrics/x')).toBe(false);
  });
});

describe('EventLoopMeter', () => {
  it('reports a busy loop as busy and an idle one as idle', async () => {
    const seen: number[] = [];
    const meter = new EventLoopMeter().start(100, (u) => seen.push(u));
    try {
      await new Promise((r) => setTimeout(r, 150));
      const until = Date.now() + 150;
      while (Date.now() < until) {
        // Keep the loop busy for a whole window.
      }
      await new Promise((r) => setTimeout(r, 120));
      await new Promise((r) => setTimeout(r, 250));
    } finally {
      meter.stop();
    }
    expect(Math.max(...seen)).toBeGreaterThan(0.6);
    expect(seen[seen.length - 1]).toBeLessThan(0.5);
    expect(meter.utilization).toBe(seen[seen.length - 1]);
  });
});
