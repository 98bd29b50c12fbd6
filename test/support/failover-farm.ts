import { readFileSync } from 'node:fs';
import { Keyring, parseKeyFile } from '../../libs/common/src/auth/keyring';
import { FailoverClient } from '../../libs/common/src/failover/failover-client';
import { AmqpClient } from '../../libs/common/src/messaging/amqp-client';
import { FakeApp } from '../../libs/common/src/testing/fake-app';
import { AppProcess } from '../../libs/common/src/testing/farm-process';
import { RABBITMQ_URL, TestFarm } from './test-farm';

/** A logger that says nothing (the tests read what they need from the clients). */
export const QUIET = { log: () => undefined, warn: () => undefined, error: () => undefined };

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

/**
 * Clients of the library on server `server` of the farm, one broker connection for all of them:
 * client `ids[i]` at `client-<id>:8080` with latency i; `onEach` runs before each one starts.
 */
export async function startFailoverClients(farm: TestFarm, server: AppProcess, serverId: string, ids: string[], onEach: (c: FailoverClient) => void = () => undefined): Promise<{ amqp: AmqpClient; clients: FailoverClient[]; keyring: Keyring }> {
  const keyring = parseKeyFile(readFileSync(farm.creds.keysFile, 'utf8'), farm.creds.keysFile);
  const amqp = new AmqpClient({ url: RABBITMQ_URL(), name: `${farm.ns} test clients`, logger: QUIET });
  await amqp.start();
  const clients: FailoverClient[] = [];
  for (const [i, id] of ids.entries()) {
    const c = new FailoverClient({ id, address: `client-${id}:8080`, latencyMs: i, ns: farm.ns, server: { id: serverId, address: server.url }, keyring, redis: farm.redis, amqp, log: QUIET });
    onEach(c);
    await c.start();
    clients.push(c);
  }
  return { amqp, clients, keyring };
}
