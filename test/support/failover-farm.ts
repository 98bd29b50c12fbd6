import { FailoverClient } from '../../libs/common/src/failover/failover-client';
import { AmqpClient } from '../../libs/common/src/messaging/amqp-client';
import { FakeApp } from '../../libs/common/src/testing/fake-app';
import { AppProcess } from '../../libs/common/src/testing/farm-process';
import { TestFarm } from './test-farm';

/**
 * An attendant configuration for the failover suites: the watched node's metrics off, the load
 * read from a FakeApp the test steers (workers only, no smoothing), failover past 80, connection
 * under 60, a gold group at 50/30, and invitations `setSize` at a time, `intervalMs` apart.
 */
export function failoverAttendantConfig(node: AppProcess, load: FakeApp, reconnect: { setSize: number; intervalMs: number }) {
  return {
    repeaterUrl: node.url,
    probes: { login: { enabled: false }, refresh: { enabled: false } },
    load: { url: load.loadUrl },
    failover: { thresholds: { failover: 80, connection: 60 }, hysteresis: 5, smoothing: 1, weights: { workers: 1, eventLoop: 0, cpu: 0, memory: 0, processes: 0, peers: 0 }, reconnect, groups: { gold: { failover: 50, connection: 30 } } },
  };
}

/** Stops what a failover suite started: its clients, their broker connection, the farm, the fake loads. */
export async function stopFailoverSuite(s: { clients: FailoverClient[]; amqp?: AmqpClient; farm?: TestFarm; loads: FakeApp[] }): Promise<void> {
  for (const c of s.clients) await c.stop();
  await s.amqp?.stop();
  await s.farm?.cleanup();
  await Promise.all(s.loads.map((l) => l.stop()));
}
