import { Test } from '@nestjs/testing';
import { Controller, INestApplication } from '@nestjs/common';
import type { AddressInfo } from 'node:net';
import { MetricsService } from '../metrics/metrics.service';
import { DependencyCheck, FarmHealthService, farmHealth } from './farm-health';

const state = { broker: true, redis: true };
const CHECKS = Symbol('checks under test');

@Controller()
class Nothing {}

async function app(): Promise<{ app: INestApplication; url: string; health: FarmHealthService }> {
  const h = farmHealth(
    (s: typeof state): DependencyCheck[] => [
      { name: 'broker', up: () => s.broker },
      { name: 'redis', up: () => s.redis, detail: () => ({ connection: s.redis ? 'ready' : 'reconnecting' }) },
    ],
    [CHECKS],
  );
  const mod = await Test.createTestingModule({ imports: h.imports, controllers: [Nothing, ...h.controllers], providers: [{ provide: CHECKS, useValue: state }, MetricsService, ...h.providers] }).compile();
  const a = mod.createNestApplication({ logger: false });
  await a.listen(0, '127.0.0.1');
  return { app: a, url: `http://127.0.0.1:${(a.getHttpServer().address() as AddressInfo).port}`, health: a.get(FarmHealthService) };
}

describe('farm health (terminus)', () => {
  let t: Awaited<ReturnType<typeof app>>;
  beforeAll(async () => (t = await app()));
  afterAll(() => t.app.close());
  afterEach(() => Object.assign(state, { broker: true, redis: true }));

  it('answers the process\'s load as the limiter and the event-loop meter left it', async () => {
    const load = t.app.get(MetricsService).load;
    Object.assign(load, { inFlight: () => 3, limit: 50, eventLoopUtilization: 0.25 });
    const r = await fetch(`${t.url}/v1/health/load`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ inFlight: 3, limit: 50, eventLoopUtilization: 0.25 });
  });

  it('is ready when every check is up: 200 in terminus shape, with each detail', async () => {
    expect(await t.health.readiness()).toMatchObject({ ready: true, down: [] });
    const r = await fetch(`${t.url}/v1/health/ready`);
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({
      status: 'ok',
      info: { broker: { status: 'up' }, redis: { status: 'up', connection: 'ready' } },
      error: {},
      details: { broker: { status: 'up' }, redis: { status: 'up', connection: 'ready' } },
    });
  });

  it('names what is down and answers 503 while anything is', async () => {
    state.redis = false;
    expect(await t.health.readiness()).toMatchObject({ ready: false, down: ['redis'] });
    state.broker = false;
    expect((await t.health.readiness()).down).toEqual(['broker', 'redis']);
    const r = await fetch(`${t.url}/v1/health/ready`);
    expect(r.status).toBe(503);
    expect(await r.json()).toMatchObject({ status: 'error', error: { broker: { status: 'down' }, redis: { status: 'down', connection: 'reconnecting' } } });
  });

  it('stays live while dependencies are down', async () => {
    state.broker = false;
    const r = await fetch(`${t.url}/v1/health/live`);
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ status: 'ok' });
  });
});
