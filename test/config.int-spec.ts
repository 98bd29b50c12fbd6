import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { brokerUrlUser } from '../libs/common/src/auth/broker-users';
import { ensureDevCredentials } from '../libs/common/src/auth/dev-credentials';
import { join } from 'node:path';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REPO_ROOT, freePort } from '../libs/common/src/testing/farm-process';
import { RABBITMQ_URL, REDIS_URL } from './support/test-farm';
import { EXIT_WITHIN_MS } from './support/exit-within';

/** Exit status of an app stopped by its configuration (EX_CONFIG). */
const EX_CONFIG = 78;
jest.setTimeout(EXIT_WITHIN_MS + 10_000);

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts an app from dist/ with an otherwise valid environment changed by `change` (undefined
 * removes a variable), and waits for it to exit; kills it if it is still running after
 * EXIT_WITHIN_MS (then `signal` is SIGKILL and the test fails on the exit code).
 */
async function runApp(app: 'notifier' | 'repeater' | 'poller', change: Record<string, string | undefined>): Promise<Exit> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    FARM_NAMESPACE: uniqueNamespace(`config-${app}`),
    RABBITMQ_URL: RABBITMQ_URL(),
    REDIS_URL: REDIS_URL(),
    HTTP_PORT: String(await freePort()),
    NODE_ID: app === 'repeater' ? 'cfg-node' : undefined,
    // Each case changes one variable; credentials have cases of their own below.
    FARM_AUTH: 'off',
    NO_COLOR: '1',
    ...change,
  };
  for (const k of Object.keys(env)) if (env[k] === undefined) delete env[k];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', app, 'main.js')], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const killer = setTimeout(() => child.kill('SIGKILL'), EXIT_WITHIN_MS);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((r) => child.once('close', (c, s) => r([c, s])));
  clearTimeout(killer);
  return { code, signal, stdout, stderr };
}

/** The variables an error report names, one per line `  NAME=value: why`. */
const named = (report: string): string[] => [...report.matchAll(/^ {2}([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);

/** The one JSON log line an app writes when its configuration is invalid. */
function fatalLine(stdout: string): { level?: string; app?: string; context?: string; msg: string } {
  const lines = stdout.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  return JSON.parse(lines[0]) as { level?: string; app?: string; context?: string; msg: string };
}

describe('an app started with an invalid environment', () => {
  const cases: [app: 'notifier' | 'repeater' | 'poller', variable: string, value: string | undefined, why: RegExp][] = [
    ['notifier', 'HTTP_PORT', 'abc', /HTTP_PORT="abc": .*integer/],
    ['notifier', 'RABBITMQ_URL', 'http://127.0.0.1:5672', /RABBITMQ_URL="http:\/\/127\.0\.0\.1:5672": RABBITMQ_URL must be an amqp:\/\/ or amqps:\/\/ URL/],
    ['repeater', 'NODE_ID', undefined, /NODE_ID=null: .*NODE_ID is required/],
    ['repeater', 'HTTP_PORT', '70000', /HTTP_PORT="70000": .*65535/],
    ['poller', 'POLL_INTERVALS_MS', 'fast', /POLL_INTERVALS_MS="fast": POLL_INTERVALS_MS must be at least two comma-separated numbers/],
    ['poller', 'RABBITMQ_URL', 'rabbit://127.0.0.1', /RABBITMQ_URL="rabbit:\/\/127\.0\.0\.1": RABBITMQ_URL must be an amqp:\/\/ or amqps:\/\/ URL/],
  ];

  const titled = cases.map(([app, variable, value, why]) => [app, value === undefined ? `${variable} unset` : `${variable}=${value}`, variable, value, why] as const);

  it.each(titled)('%s with %s exits 78 at once with one fatal JSON line naming that variable only, without a stack trace', async (app, _title, variable, value, why) => {
    const t0 = Date.now();
    const r = await runApp(app, { [variable]: value });
    expect({ code: r.code, signal: r.signal }).toEqual({ code: EX_CONFIG, signal: null });
    expect(Date.now() - t0).toBeLessThan(EXIT_WITHIN_MS);
    const line = fatalLine(r.stdout);
    expect(line).toMatchObject({ level: 'fatal', app, context: 'Config' });
    expect(line.msg).toMatch(/^invalid configuration:\n/);
    expect(line.msg).toMatch(why);
    expect(named(line.msg)).toEqual([variable]);
    expect(line).not.toHaveProperty('stack');
    expect(r.stderr).toBe('');
  });
});

describe('an app started without its credentials (FARM_AUTH on, the default)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'config-auth-'));
  const creds = ensureDevCredentials(dir);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['notifier', { FARM_AUTH: undefined, FARM_TOKENS_FILE: undefined }, 'FARM_TOKENS_FILE=null: FARM_TOKENS_FILE is required'],
    ['poller', { FARM_AUTH: 'on', FARM_TOKENS_FILE: creds.tokensFile, FARM_KEYS_FILE: undefined }, 'FARM_KEYS_FILE=null: FARM_KEYS_FILE is required'],
  ] as const)('%s refuses to start and names what is missing', async (app, change, why) => {
    const r = await runApp(app, change);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: EX_CONFIG, signal: null });
    const line = fatalLine(r.stdout);
    expect(line).toMatchObject({ level: 'fatal', app, context: 'Config' });
    expect(line.msg).toContain(why);
    expect(line.msg).toContain('or set FARM_AUTH=off for development');
  });

  it('a repeater whose key file cannot be read refuses to start and names the file', async () => {
    const r = await runApp('repeater', { FARM_AUTH: undefined, FARM_TOKENS_FILE: creds.tokensFile, FARM_KEYS_FILE: join(dir, 'nowhere.json') });
    expect({ code: r.code, signal: r.signal }).toEqual({ code: EX_CONFIG, signal: null });
    expect(fatalLine(r.stdout).msg).toBe(`FARM_KEYS_FILE ${join(dir, 'nowhere.json')} cannot be read (ENOENT)`);
  });

  it('a repeater connecting as a broker user not its own refuses to start and names the user it must use', async () => {
    const ns = uniqueNamespace('config-broker-user');
    const r = await runApp('repeater', { FARM_AUTH: undefined, FARM_NAMESPACE: ns, FARM_TOKENS_FILE: creds.tokensFile, FARM_KEYS_FILE: creds.keysFile });
    expect({ code: r.code, signal: r.signal }).toEqual({ code: EX_CONFIG, signal: null });
    expect(fatalLine(r.stdout).msg).toBe(`RABBITMQ_URL connects as broker user ${brokerUrlUser(RABBITMQ_URL())}, but with FARM_BROKER_USERS=per-process node cfg-node must connect as ${ns}.node.cfg-node (create the farm's users with scripts/broker-users.js), or set FARM_BROKER_USERS=shared`);
  });

  it('a notifier with a token file whose entry holds a token instead of its hash refuses to start, without echoing it', async () => {
    const bad = join(dir, 'bad-tokens.json');
    writeFileSync(bad, JSON.stringify({ tokens: [{ name: 'ops', scopes: ['notify'], sha256: creds.token }] }));
    const r = await runApp('notifier', { FARM_AUTH: undefined, FARM_TOKENS_FILE: bad });
    expect({ code: r.code, signal: r.signal }).toEqual({ code: EX_CONFIG, signal: null });
    const msg = fatalLine(r.stdout).msg;
    expect(msg).toContain("tokens[0] (ops): sha256 must be 64 hex digits (the token's SHA-256, not the token)");
    expect(r.stdout + r.stderr).not.toContain(creds.token);
  });
});
