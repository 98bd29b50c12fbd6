import type { ArgumentsHost } from '@nestjs/common';
import Redis from 'ioredis';
import { FarmExceptionFilter, isRedisUnavailable } from './farm-exception.filter';

function answer(err: unknown): { status: number; headers: Record<string, string>; body: unknown } {
  const out = { status: 0, headers: {} as Record<string, string>, body: undefined as unknown };
  const res = {
    status: (s: number) => ((out.status = s), res),
    setHeader: (k: string, v: string) => ((out.headers[k] = v), res),
    json: (b: unknown) => ((out.body = b), res),
  };
  new FarmExceptionFilter().catch(err, { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ArgumentsHost);
  return out;
}

describe('FarmExceptionFilter and Redis away', () => {
  it('answers 503 with Retry-After when ioredis cannot reach Redis, as a real client without an offline queue says it', async () => {
    const client = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    const err = await client.get('x').then(() => undefined, (e: unknown) => e);
    client.disconnect();
    expect(isRedisUnavailable(err)).toBe(true);
    const a = answer(err);
    expect(a.status).toBe(503);
    expect(a.headers['Retry-After']).toBe('1');
    expect(a.body).toMatchObject({ error: 'store unavailable' });
  });

  it('keeps any other error a 500', () => {
    expect(isRedisUnavailable(new Error('boom'))).toBe(false);
    expect(answer(new Error('boom')).status).toBe(500);
  });
});
