import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { GiveUp, waitFor } from './wait-for';
import { flushCoverageBeforeKill } from './coverage-flush';
import { readAllAvailability } from '../http/availability-pages';

/** Repository root (this file lives in libs/common/src/testing, or under dist/out/...). */
export const REPO_ROOT = resolve(__dirname.includes(`${join('dist', 'out')}`) ? join(__dirname, '..', '..', '..', '..', '..', '..') : join(__dirname, '..', '..', '..', '..'));

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => res(port));
    });
  });
}

export interface AppProcessOptions {
  app: 'repeater' | 'notifier' | 'poller' | 'attendant';
  /** Name used for the log file and messages. */
  name: string;
  env: Record<string, string | undefined>;
  port?: number;
  logDir?: string;
  /** An operator token (admin) that get, post and snapshot send; the farm's processes require one. */
  token?: string;
}

/**
 * One app running as a real process from `dist/apps/<app>/main.js` (build first), so tests can
 * SIGKILL, SIGSTOP or restart it. Output goes to a log file per process.
 */
export class AppProcess {
  proc?: ChildProcess;
  port = 0;
  readonly logFile: string;
  exits: (number | null)[] = [];

  constructor(readonly opts: AppProcessOptions) {
    const dir = opts.logDir ?? join(REPO_ROOT, '.farm', 'logs');
    mkdirSync(dir, { recursive: true });
    this.logFile = join(dir, `${opts.name}.log`);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<this> {
    this.port = this.port || this.opts.port || (await freePort());
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const child = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'apps', this.opts.app, 'main.js')], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.opts.env, HTTP_PORT: String(this.port), NODE_ADDRESS: `http://127.0.0.1:${this.port}`, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    child.once('exit', (code) => this.exits.push(code));
    this.proc = child;
    return this;
  }

  /** Waits until GET /v1/health answers 200. */
  async ready(timeoutMs = 20_000): Promise<this> {
    await waitFor(`${this.opts.name} healthy (log: ${this.logFile})`, async () => {
      const p = this.proc;
      if (p && (p.exitCode !== null || p.signalCode !== null)) throw new GiveUp(`${this.opts.name} exited (${p.exitCode ?? p.signalCode}); see ${this.logFile}`);
      const r = await fetch(`${this.url}/v1/health`).catch(() => undefined);
      return r?.status === 200;
    }, timeoutMs, 50);
    return this;
  }

  signal(sig: NodeJS.Signals): void {
    this.proc?.kill(sig);
  }

  /** Stops the process (SIGTERM, or SIGKILL for a crash) and waits for it to exit. */
  async stop(sig: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill(sig);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(t);
  }

  /**
   * Coverage runs only (scripts/coverage.js): has the process write its V8 coverage now, for a
   * teardown that SIGKILLs it (which would lose it). Does nothing outside coverage runs.
   */
  flushCoverage(timeoutMs?: number): Promise<void> {
    return this.proc ? flushCoverageBeforeKill(this.proc, timeoutMs) : Promise.resolve();
  }

  /** The Authorization header of this process's token, for a test's own requests. */
  auth(): Record<string, string> {
    return this.opts.token ? { authorization: `Bearer ${this.opts.token}` } : {};
  }

  async get<T = unknown>(path: string): Promise<T> {
    const r = await fetch(`${this.url}${path}`, { headers: this.auth() });
    return (await r.json()) as T;
  }

  /** A repeater's whole state, following the pages of GET /v1/availability. */
  snapshot<E = AvailabilitySnapshot['entries'][number]>(): Promise<Omit<AvailabilitySnapshot, 'entries'> & { entries: E[] }> {
    return readAllAvailability<E>(this.url, async (url) => {
      const r = await fetch(url, { headers: this.auth() });
      if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
      return r.json();
    });
  }

  async post(path: string, body?: unknown, raw?: string | Buffer): Promise<{ status: number; body: unknown }> {
    const r = await fetch(`${this.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...this.auth() }, body: raw ?? (body === undefined ? undefined : JSON.stringify(body)) });
    const text = await r.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    return { status: r.status, body: parsed };
  }
}

export interface AvailabilitySnapshot {
  nodeId: string;
  count: number;
  digest: string;
  /** Cursor of the next page; null once every page was read. */
  next?: string | null;
  entries: { target: string; id: string; timestamp: string; available: boolean; kind: string; targetType: string }[];
}
