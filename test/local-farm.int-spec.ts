import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REPO_ROOT, freePort } from '../libs/common/src/testing/farm-process';
import { GiveUp, waitFor } from '../libs/common/src/testing/wait-for';
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

  afterAll(async () => {
    const p = farm;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await exited;
    }
  });

  it('starts one of each app, prints the token export, and the token reads a node', async () => {
    const ports = { NOTIFIER_PORT: await freePort(), REPEATER_BASE_PORT: await freePort(), POLLER_PORT: await freePort(), ATTENDANT_BASE_PORT: await freePort() };
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
});
