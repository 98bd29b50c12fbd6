import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CheckResult, CheckSpec } from './attendant-config.types';
import { processScanner, runCheck } from './checks';
import { waitFor } from '../testing/wait-for';

const PLUGINS = '/usr/lib/nagios/plugins';
const DEFAULT_TIMEOUT_MS = 2000;

/** Path of a Debian monitoring plugin; fails (never skips) when the package is missing. */
function plugin(name: string): string {
  const path = join(PLUGINS, name);
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install monitoring-plugins-basic`);
  return path;
}

async function timed(spec: CheckSpec, ctx?: Parameters<typeof runCheck>[2]): Promise<CheckResult & { ms: number }> {
  const start = performance.now();
  const r = await runCheck(spec, DEFAULT_TIMEOUT_MS, ctx);
  return { ...r, ms: performance.now() - start };
}

function listen<T extends net.Server>(server: T): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

const close = (server: net.Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** Whether a process exists and is not a zombie (an orphan may wait to be reaped by a lazy init). */
function isRunning(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return false;
  }
}

/** A port nothing listens on: bound once, then released. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await close(s);
  return port;
}

describe('runCheck', () => {
  let tcpServer: net.Server;
  let tcpPort: number;
  let httpServer: http.Server;
  let httpPort: number;
  let refused: number;

  beforeAll(async () => {
    tcpServer = net.createServer((socket) => socket.destroy());
    tcpPort = await listen(tcpServer);
    httpServer = http.createServer((req, res) => {
      if (req.url === '/hang') return; // never answers
      const status = Number(req.url?.slice(1)) || 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end('x'.repeat(10_000));
    });
    httpPort = await listen(httpServer);
    refused = await closedPort();
  });

  afterAll(async () => {
    httpServer.closeAllConnections();
    await Promise.all([close(tcpServer), close(httpServer)]);
  });

  describe('tcp', () => {
    it('is ok when the port accepts a connection', async () => {
      expect(await runCheck({ kind: 'tcp', host: '127.0.0.1', port: tcpPort }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: `connected to 127.0.0.1:${tcpPort}` });
    });

    it('is critical when the connection is refused', async () => {
      const r = await runCheck({ kind: 'tcp', host: '127.0.0.1', port: refused }, DEFAULT_TIMEOUT_MS);
      expect(r.status).toBe('critical');
      expect(r.detail).toContain('connection refused');
    });
  });

  describe('http', () => {
    const url = (path: string) => `http://127.0.0.1:${httpPort}${path}`;

    it('is ok on 2xx and 3xx by default', async () => {
      expect(await runCheck({ kind: 'http', url: url('/200') }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: 'HTTP 200' });
      expect(await runCheck({ kind: 'http', url: url('/302') }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: 'HTTP 302' });
    });

    it('is critical on other statuses, unless expected', async () => {
      expect(await runCheck({ kind: 'http', url: url('/503') }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'critical', detail: 'HTTP 503' });
      expect(await runCheck({ kind: 'http', url: url('/200'), expectStatus: [204] }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'critical', detail: 'HTTP 200' });
      expect(await runCheck({ kind: 'http', url: url('/503'), expectStatus: [503] }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: 'HTTP 503' });
    });

    it('is critical when the server does not answer in time, and respects the timeout', async () => {
      const r = await timed({ kind: 'http', url: url('/hang'), timeoutMs: 300 });
      expect(r).toMatchObject({ status: 'critical', detail: 'timed out after 300 ms' });
      expect(r.ms).toBeLessThan(300 + 200);
    });

    it('is critical when the connection is refused', async () => {
      const r = await runCheck({ kind: 'http', url: `http://127.0.0.1:${refused}/` }, DEFAULT_TIMEOUT_MS);
      expect(r).toEqual({ status: 'critical', detail: 'connection refused' });
    });

    it('does not reject on a malformed URL', async () => {
      expect(await runCheck({ kind: 'http', url: 'not a url' }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'unknown', detail: 'check failed: Invalid URL' });
    });
  });

  describe('command (Nagios plugin convention)', () => {
    it.each([
      [0, 'ok'],
      [1, 'warning'],
      [2, 'critical'],
      [3, 'unknown'],
    ])('check_dummy %i is %s', async (code, status) => {
      const r = await runCheck({ kind: 'command', command: plugin('check_dummy'), args: [String(code), 'all good'] }, DEFAULT_TIMEOUT_MS);
      expect(r.status).toBe(status);
      expect(r.detail).toContain('all good');
    });

    it('runs check_tcp against a listener (ok) and a closed port (critical), without perfdata', async () => {
      const up = await runCheck({ kind: 'command', command: plugin('check_tcp'), args: ['-H', '127.0.0.1', '-p', String(tcpPort)] }, DEFAULT_TIMEOUT_MS);
      expect(up.status).toBe('ok');
      expect(up.detail).toMatch(/^TCP OK/);
      expect(up.detail).not.toContain('|');
      const down = await runCheck({ kind: 'command', command: plugin('check_tcp'), args: ['-H', '127.0.0.1', '-p', String(refused)] }, DEFAULT_TIMEOUT_MS);
      expect(down.status).toBe('critical');
      expect(down.detail).toMatch(/refused/i);
    });

    it('kills a command that outlives its timeout, and its children, and reports unknown quickly', async () => {
      // The shell writes its own pid and its child's, then waits: both must be gone after the timeout.
      const dir = mkdtempSync(join(tmpdir(), 'check-kill-'));
      const pids = join(dir, 'pids');
      try {
        const r = await timed({ kind: 'command', command: '/bin/sh', args: ['-c', `sleep 30 & echo $$ $! > ${pids}; wait`], timeoutMs: 300 });
        expect(r).toMatchObject({ status: 'unknown', detail: '/bin/sh timed out after 300 ms' });
        expect(r.ms).toBeLessThan(300 + 200);
        const [shell, child] = readFileSync(pids, 'utf8').trim().split(' ').map(Number);
        for (const pid of [shell, child]) await waitFor(`process ${pid} to be gone`, () => !isRunning(pid), 2000);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('reports a missing command as unknown', async () => {
      expect(await runCheck({ kind: 'command', command: '/nonexistent/check_x' }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'unknown', detail: 'cannot run /nonexistent/check_x: ENOENT' });
    });

    it('reports an exit status outside 0-3 as unknown, with the output', async () => {
      const r = await runCheck({ kind: 'command', command: '/bin/sh', args: ['-c', 'echo; echo "  broken  "; echo second; exit 7'] }, DEFAULT_TIMEOUT_MS);
      expect(r).toEqual({ status: 'unknown', detail: 'exit status 7: broken' });
    });

    it('falls back to stderr and caps the detail', async () => {
      const r = await runCheck({ kind: 'command', command: '/bin/sh', args: ['-c', 'echo oops >&2; exit 2'] }, DEFAULT_TIMEOUT_MS);
      expect(r).toEqual({ status: 'critical', detail: 'oops' });
      const long = await runCheck({ kind: 'command', command: '/bin/sh', args: ['-c', 'head -c 100000 /dev/zero | tr "\\0" a'] }, DEFAULT_TIMEOUT_MS);
      expect(long.status).toBe('ok');
      expect(long.detail.length).toBeLessThanOrEqual(1000);
    });
  });

  describe('process', () => {
    it('finds the test runner itself by its comm', async () => {
      const comm = readFileSync('/proc/self/comm', 'utf8').trim();
      expect((await runCheck({ kind: 'process', name: comm }, DEFAULT_TIMEOUT_MS)).status).toBe('ok');
    });

    it('finds a live process by its comm alone and by its argv[0] alone', async () => {
      // A symlink to sleep gives the process its comm; spawn's argv0 gives it another argv[0].
      const dir = mkdtempSync(join(tmpdir(), 'proc-names-'));
      const comm = `farmcomm${process.pid}`.slice(0, 15);
      const argv0 = `farm-argv0-${process.pid}`;
      symlinkSync('/bin/sleep', join(dir, comm));
      const child = spawn(join(dir, comm), ['30'], { argv0, stdio: 'ignore' });
      try {
        await new Promise((resolve, reject) => child.once('spawn', resolve).once('error', reject));
        expect(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim()).toBe(comm);
        expect(readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0')[0]).toBe(argv0);
        expect(await runCheck({ kind: 'process', name: comm }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: `1 process named ${comm}` });
        expect(await runCheck({ kind: 'process', name: argv0 }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'ok', detail: `1 process named ${argv0}` });
      } finally {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('is critical when no process (or too few) has the name', async () => {
      const name = `no-such-${process.pid}-${Date.now()}`;
      expect(await runCheck({ kind: 'process', name }, DEFAULT_TIMEOUT_MS)).toEqual({ status: 'critical', detail: `no process named ${name}` });
      const few = await runCheck({ kind: 'process', name: 'node', minCount: 100_000 }, DEFAULT_TIMEOUT_MS);
      expect(few.status).toBe('critical');
      expect(few.detail).toMatch(/^only \d+ process(es)? named node, expected at least 100000$/);
    });

    describe('processScanner on a fake /proc', () => {
      let root: string;
      const addProcess = (pid: number, comm: string | null, cmdline: string | null) => {
        mkdirSync(join(root, String(pid)));
        if (comm !== null) writeFileSync(join(root, String(pid), 'comm'), `${comm}\n`);
        if (cmdline !== null) writeFileSync(join(root, String(pid), 'cmdline'), cmdline);
      };

      beforeEach(() => {
        root = mkdtempSync(join(tmpdir(), 'proc-'));
        mkdirSync(join(root, 'self'));
        addProcess(10, 'postfix-master', '/usr/lib/postfix/sbin/master\0-w\0');
        addProcess(11, 'smtpd', 'smtpd\0-n\0smtp\0');
        addProcess(12, 'kworker/0:1', ''); // kernel thread: empty cmdline
        addProcess(13, null, null); // vanished mid-scan
        addProcess(14, 'smtpd', null);
      });
      afterEach(() => rmSync(root, { recursive: true, force: true }));

      it('counts by comm or argv[0] basename, tolerating vanished processes', async () => {
        const count = processScanner(root);
        expect(await count('smtpd')).toBe(2);
        expect(await count('master')).toBe(1);
        expect(await count('postfix-master')).toBe(1);
        expect(await count('sbin')).toBe(0);
      });

      it('scans once per scanner', async () => {
        const count = processScanner(root);
        expect(await count('smtpd')).toBe(2);
        addProcess(15, 'smtpd', 'smtpd\0');
        expect(await count('smtpd')).toBe(2);
        expect(await processScanner(root)('smtpd')).toBe(3);
      });

      it('is used by runCheck through the context', async () => {
        const ctx = { countProcesses: processScanner(root) };
        expect(await runCheck({ kind: 'process', name: 'smtpd', minCount: 2 }, DEFAULT_TIMEOUT_MS, ctx)).toEqual({ status: 'ok', detail: '2 processes named smtpd' });
      });

      it('is unknown when /proc cannot be read', async () => {
        const ctx = { countProcesses: processScanner(join(root, 'absent')) };
        const r = await runCheck({ kind: 'process', name: 'smtpd' }, DEFAULT_TIMEOUT_MS, ctx);
        expect(r.status).toBe('unknown');
        expect(r.detail).toContain('ENOENT');
      });
    });
  });

  describe('systemd', () => {
    /**
     * A stand-in `systemctl` first on PATH: it insists on `is-active -- UNIT` and the C locale,
     * and answers as the unit's name says.
     */
    const FAKE_SYSTEMCTL = `#!/bin/sh
[ "$1" = is-active ] && [ "$2" = -- ] || { echo "unexpected arguments: $*" >&2; exit 64; }
[ "$LC_ALL" = C ] || { echo "locale is not C" >&2; exit 65; }
case "$3" in
  up.service) echo active; exit 0 ;;
  starting.service) echo activating; exit 3 ;;
  reloading.service) echo reloading; exit 3 ;;
  failed.service) echo failed; exit 3 ;;
  stopped.service) echo inactive; exit 3 ;;
  nobus.service) echo "Failed to connect to bus: No such file or directory" >&2; exit 1 ;;
  mute.service) exit 1 ;;
  hang.service) exec sleep 10 ;;
esac
exit 70
`;
    let binDir: string;
    let savedPath: string | undefined;

    beforeAll(() => {
      binDir = mkdtempSync(join(tmpdir(), 'fake-systemctl-'));
      writeFileSync(join(binDir, 'systemctl'), FAKE_SYSTEMCTL, { mode: 0o755 });
    });
    afterAll(() => rmSync(binDir, { recursive: true, force: true }));

    describe('against a stand-in systemctl', () => {
      beforeEach(() => {
        savedPath = process.env.PATH;
        process.env.PATH = `${binDir}:${savedPath ?? ''}`;
      });
      afterEach(() => {
        process.env.PATH = savedPath;
      });

      it.each([
        ['up.service', { status: 'ok', detail: 'active' }],
        ['starting.service', { status: 'warning', detail: 'activating' }],
        ['reloading.service', { status: 'warning', detail: 'reloading' }],
        ['failed.service', { status: 'critical', detail: 'failed' }],
        ['stopped.service', { status: 'critical', detail: 'inactive' }],
        ['nobus.service', { status: 'unknown', detail: 'nobus.service: Failed to connect to bus: No such file or directory' }],
        ['mute.service', { status: 'unknown', detail: 'mute.service: systemctl exited with status 1 and no state' }],
      ])('maps %s to %j', async (unit, expected) => {
        expect(await runCheck({ kind: 'systemd', unit }, DEFAULT_TIMEOUT_MS)).toEqual(expected);
      });

      it('kills a systemctl that outlives the timeout and reports unknown', async () => {
        const r = await timed({ kind: 'systemd', unit: 'hang.service', timeoutMs: 300 });
        expect(r).toMatchObject({ status: 'unknown', detail: 'systemctl timed out after 300 ms' });
        expect(r.ms).toBeLessThan(300 + 200);
      });
    });

    it('gives the status this machine\'s systemd calls for on a unit that does not exist', async () => {
      // Known without asking systemctl: no systemctl at all, no systemd as PID 1, or a unit
      // systemd does not know, which it reports inactive.
      const unit = `farm-no-such-unit-${process.pid}.service`;
      const hasSystemctl = (process.env.PATH ?? '').split(':').some((d) => d !== '' && existsSync(join(d, 'systemctl')));
      const booted = existsSync('/run/systemd/system');
      const r = await timed({ kind: 'systemd', unit, timeoutMs: 1000 });
      if (!hasSystemctl) expect(r).toMatchObject({ status: 'unknown', detail: 'cannot run systemctl: ENOENT' });
      else if (!booted) {
        expect(r.status).toBe('unknown');
        expect(r.detail).toMatch(new RegExp(`^${unit.replace(/\./g, '\\.')}: (System has not been booted with systemd|Failed to connect to bus)`));
      } else expect(r).toMatchObject({ status: 'critical', detail: 'inactive' });
      expect(r.ms).toBeLessThan(1000 + 200);
    });
  });

  it('never rejects, even on a spec it does not know', async () => {
    const r = await runCheck({ kind: 'bogus' } as unknown as CheckSpec, DEFAULT_TIMEOUT_MS);
    expect(r).toEqual({ status: 'unknown', detail: 'unknown check kind bogus' });
  });

  it('bounds a check whose counter never answers', async () => {
    const start = performance.now();
    const r = await runCheck({ kind: 'process', name: 'x' }, 100, { countProcesses: () => new Promise<number>(() => undefined) });
    expect(r).toEqual({ status: 'unknown', detail: 'timed out after 100 ms' });
    expect(performance.now() - start).toBeLessThan(100 + 200);
  });
});
