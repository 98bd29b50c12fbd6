import { execFile } from 'node:child_process';
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT, freePort } from '../libs/common/src/testing/farm-process';
import { TestFarm } from './support/test-farm';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(60_000);
const run = promisify(execFile);

/** Runs the installed CLI (bin/farmctl.js) as an operator would. */
function farmctl(args: string[], env: Record<string, string>): Promise<{ stdout: string; stderr: string; code: number }> {
  return run(process.execPath, [join(REPO_ROOT, 'bin', 'farmctl.js'), ...args], { env: { ...process.env, ...env } })
    .then(({ stdout, stderr }) => ({ stdout, stderr, code: 0 }))
    .catch((err: { stdout: string; stderr: string; code: number }) => ({ stdout: err.stdout, stderr: err.stderr, code: err.code }));
}

describe('farmctl against a running farm', () => {
  const farm = new TestFarm('farmctl');
  let env: Record<string, string>;

  beforeAll(async () => {
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
    const notifier = await farm.startNotifier();
    env = { NOTIFIER_URL: notifier.url, REPEATER_URL: farm.node('a').url, FARM_TOKEN: farm.creds.token };
  });
  afterAll(() => farm.cleanup());

  it('takes an application down for maintenance, shows it, and brings it back', async () => {
    const down = await farmctl(['notify', '--target', 'mail', '--down', '--reason', 'maintenance', '--for', '2h', '--message', 'disk swap', '--kind', 'send'], env);
    expect(down.code).toBe(0);
    await farm.converged(1);
    const lookup = await farmctl(['status', '--target', 'mail', '--kind', 'send', '--node', farm.node('b').url, '--json'], env);
    expect(lookup.code).toBe(0);
    expect(JSON.parse(lookup.stdout)).toMatchObject({ available: false, reason: 'maintenance', message: 'disk swap' });
    const table = await farmctl(['status'], env);
    expect(table.stdout).toMatch(/mail/);
    expect(table.stdout).toMatch(/maintenance/);

    expect((await farmctl(['notify', '--target', 'mail', '--up', '--kind', 'send'], env)).code).toBe(0);
    await waitFor('mail available again', async () => JSON.parse((await farmctl(['status', '--target', 'mail', '--kind', 'send', '--json'], env)).stdout).available === true);
  });

  it('reports usage errors with exit code 2 and refusals with 1', async () => {
    const usage = await farmctl(['notify', '--down'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^farmctl: /);
    const refused = await farmctl(['notify', '--target', 'bad target', '--down'], env);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/refused by the notifier \(400 from /);
    expect(refused.stderr).toMatch(/^ {2}target: /m);
  });
});

/** A local HTTP server that answers every request with `answer` (or never, when it does nothing). */
async function httpServer(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer(answer);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}

describe('farmctl against a service that does not answer properly', () => {
  /** farmctl's own limit on one request (REQUEST_TIMEOUT_MS in apps/notifier/src/cli/farmctl.ts). */
  const FARMCTL_TIMEOUT_MS = 10_000;
  const servers: { close: () => Promise<void> }[] = [];
  const serve = async (answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> => {
    const s = await httpServer(answer);
    servers.push(s);
    return s.url;
  };
  afterAll(() => Promise.all(servers.map((s) => s.close())));

  it('exits 1 at once with "cannot reach" when nothing listens on the port', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const t0 = Date.now();
    const notify = await farmctl(['notify', '--target', 'mail', '--down'], { NOTIFIER_URL: url });
    expect(notify.code).toBe(1);
    expect(notify.stderr).toBe(`farmctl: cannot reach the notifier at ${url}/v1/notifications: ECONNREFUSED\n`);
    const status = await farmctl(['status'], { REPEATER_URL: url });
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`farmctl: cannot reach the repeater node at ${url}/v1/availability?limit=10000: ECONNREFUSED\n`);
    expect(Date.now() - t0).toBeLessThan(FARMCTL_TIMEOUT_MS);
  });

  it('gives up with exit 1 after its time limit when the service never answers', async () => {
    const url = await serve(() => undefined);
    const t0 = Date.now();
    const r = await farmctl(['status', '--target', 'mail'], { REPEATER_URL: url });
    const took = Date.now() - t0;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`farmctl: cannot reach the repeater node at ${url}/v1/availability/mail: no answer within ${FARMCTL_TIMEOUT_MS / 1000} s\n`);
    expect(took).toBeGreaterThanOrEqual(FARMCTL_TIMEOUT_MS);
    expect(took).toBeLessThan(FARMCTL_TIMEOUT_MS + 5000);
  }, 30_000);

  it('gives up the same way when the service sends headers and then stalls', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"nodeId":');
    });
    const t0 = Date.now();
    const r = await farmctl(['status'], { REPEATER_URL: url });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`farmctl: cannot reach the repeater node at ${url}/v1/availability?limit=10000: no answer within ${FARMCTL_TIMEOUT_MS / 1000} s\n`);
    expect(Date.now() - t0).toBeLessThan(FARMCTL_TIMEOUT_MS + 5000);
  }, 30_000);

  it('exits 1 with the reason when the service answers 503', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'degraded', message: 'broker connection lost' }));
    });
    const notify = await farmctl(['notify', '--target', 'mail', '--down'], { NOTIFIER_URL: url });
    expect(notify.code).toBe(1);
    expect(notify.stderr).toMatch(new RegExp(`^the broker is unavailable \\(503 from ${url}/v1/notifications\\): the notification was not published; try again shortly\n {2}broker connection lost\n$`));
    const status = await farmctl(['status'], { REPEATER_URL: url });
    expect(status.code).toBe(1);
    expect(status.stderr).toBe(`farmctl: request failed: HTTP 503 from ${url}/v1/availability?limit=10000: {"status":"degraded","message":"broker connection lost"}\n`);
    const list = await farmctl(['servers'], { POLLER_URL: url });
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(/^request failed: HTTP 503 from .*\/v1\/servers: /);
    expect(notify.stdout + status.stdout + list.stdout).toBe('');
  });
});
