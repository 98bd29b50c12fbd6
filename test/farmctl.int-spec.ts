import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../libs/common/src/testing/farm-process';
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
    env = { NOTIFIER_URL: notifier.url, REPEATER_URL: farm.node('a').url };
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
    expect((await farmctl(['notify', '--down'], env)).code).toBe(2);
    const refused = await farmctl(['notify', '--target', 'bad target', '--down'], env);
    expect(refused.code).not.toBe(0);
  });
});
