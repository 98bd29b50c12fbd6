import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deleteBrokerUsers } from '../libs/common/src/auth/broker-provision';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REPO_ROOT, freePort } from '../libs/common/src/testing/farm-process';
import { GiveUp, waitFor } from '../libs/common/src/testing/wait-for';
import Redis from 'ioredis';
import { deleteLocalNamespace, localBrokerCtl } from './support/local-broker';
import { RABBITMQ_URL, REDIS_URL } from './support/test-farm';

jest.setTimeout(120_000);

/**
 * The README's first command runs `scripts/local-farm.js` (after the build): it must start the
 * whole farm, say where to look and how to get a token, and that token must work.
 */
describe('the local farm (npm start)', () => {
  let farm: ChildProcess | undefined;
  let out = '';
  const ns = uniqueNamespace('localfarm');
  let brokerUrls: Record<string, string> = {};

  afterAll(async () => {
    const p = farm;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
    // The users the farm created for its namespace (the broker keeps users across runs).
    await deleteBrokerUsers(Object.keys(brokerUrls)).catch(() => undefined);
    // Its queues, exchanges and keys: the farm's processes declared them, so whatever they are named.
    await deleteLocalNamespace(ns, RABBITMQ_URL());
    const redis = new Redis(REDIS_URL(), { maxRetriesPerRequest: 3 });
    try {
      const keys = await redis.keys(`${ns}:*`);
      if (keys.length > 0) await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });

  let ports: Record<'NOTIFIER_PORT' | 'REPEATER_BASE_PORT' | 'POLLER_PORT' | 'ATTENDANT_BASE_PORT', number>;

  it('starts one of each app, prints the token export, and the token reads a node', async () => {
    ports = { NOTIFIER_PORT: await freePort(), REPEATER_BASE_PORT: await freePort(), POLLER_PORT: await freePort(), ATTENDANT_BASE_PORT: await freePort() };
    farm = spawn(process.execPath, [join(REPO_ROOT, 'scripts', 'local-farm.js')], {
      cwd: REPO_ROOT,
      env: { ...process.env, RABBITMQ_URL: RABBITMQ_URL(), REDIS_URL: REDIS_URL(), FARM_NAMESPACE: ns, REPEATERS: '1', ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    farm.stdout!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    farm.stderr!.on('data', (d: Buffer) => (out += d.toString('utf8')));
    await waitFor('the farm says it is up', () => {
      if (farm!.exitCode !== null) throw new GiveUp(`local-farm exited ${farm!.exitCode}: ${out.slice(-2000)}`);
      return out.includes('Local farm is up');
    }, 90_000, 200);
    expect(out).toContain('export FARM_TOKEN=$(cat .farm/auth/admin.token)');
    const token = readFileSync(join(REPO_ROOT, '.farm', 'auth', 'admin.token'), 'utf8').trim();
    const node = `http://127.0.0.1:${ports.REPEATER_BASE_PORT}`;
    expect((await fetch(`${node}/v1/availability`)).status).toBe(401);
    expect((await fetch(`${node}/v1/availability`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('gives each process a broker user of its own, and a notification goes through the notifier\'s and the node\'s', async () => {
    expect(out).toContain(`created 7 broker users with least privilege (${ns}.node.<id>, ${ns}.monitor, ...)`);
    brokerUrls = JSON.parse(readFileSync(join(REPO_ROOT, '.farm', 'auth', 'broker-urls.json'), 'utf8')) as Record<string, string>;
    expect(Object.keys(brokerUrls).sort()).toEqual([`${ns}.attendant.node-1`, `${ns}.client.web-1`, `${ns}.client.web-2`, `${ns}.monitor`, `${ns}.node.node-1`, `${ns}.notifier`, `${ns}.poller`]);
    // The demo clients of the failover library, on the node, each connected as its own broker user.
    const users = (await localBrokerCtl('list_connections', '-q', '--no-table-headers', 'user')).split('\n').map((l) => l.trim());
    expect(users).toEqual(expect.arrayContaining([`${ns}.client.web-1`, `${ns}.client.web-2`]));
    expect(out).toContain('Load-aware failover (2 demo clients, web-1 on node-1, web-2 on node-1)');
    const token = readFileSync(join(REPO_ROOT, '.farm', 'auth', 'admin.token'), 'utf8').trim();
    const auth = { authorization: `Bearer ${token}` };
    const posted = await fetch(`http://127.0.0.1:${ports.NOTIFIER_PORT}/v1/notifications`, {
      method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ target: 'mail', available: false, reason: 'testing' }),
    });
    expect(posted.status).toBe(202);
    await waitFor('the node holds the notification', async () => {
      const page = (await (await fetch(`http://127.0.0.1:${ports.REPEATER_BASE_PORT}/v1/availability`, { headers: auth })).json()) as { entries: { target: string }[] };
      return page.entries.some((e) => e.target === 'mail');
    }, 15_000);
  });
});
