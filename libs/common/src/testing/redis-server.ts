import { ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Redis from 'ioredis';
import { freePort } from './farm-process';
import { waitFor } from './wait-for';

/**
 * A redis-server of the test's own, on a free port, for faults the shared one must never see:
 * refusing writes (maxmemory reached), stopped, restarted with or without its data. With
 * `persist`, it keeps an append-only file (fsync always) in a temp dir, so a restart keeps the data.
 */
export class TestRedis {
  port = 0;
  private proc?: ChildProcess;
  private readonly dir = mkdtempSync(join(tmpdir(), 'farm-redis-'));
  private admin?: Redis;

  constructor(private readonly persist = true) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server's process id while it runs (e.g. to read its CPU time). */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  async start(): Promise<this> {
    this.port ||= await freePort();
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--dir', this.dir, '--daemonize', 'no'];
    args.push(...(this.persist ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no']));
    const proc = spawn(process.env.REDIS_SERVER ?? 'redis-server', args, { stdio: 'ignore' });
    this.proc = proc;
    await waitFor(`test redis-server on ${this.port}`, async () => {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}`);
      const c = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      c.on('error', () => undefined);
      try {
        await c.connect();
        return (await c.ping()) === 'PONG';
      } finally {
        c.disconnect();
      }
    }, 10_000, 50);
    // One admin client for the server's whole life: it reconnects by itself after a restart.
    if (!this.admin) {
      this.admin = new Redis(this.url, { maxRetriesPerRequest: null });
      this.admin.on('error', () => undefined);
    }
    return this;
  }

  /** A client for the test's own reads (reconnects across restarts). */
  client(): Redis {
    if (!this.admin) throw new Error('test redis not started');
    return this.admin;
  }

  /** Writes fail with OOM from now on (reads still work), as a full Redis answers. */
  async refuseWrites(): Promise<void> {
    await this.client().config('SET', 'maxmemory-policy', 'noeviction');
    await this.client().config('SET', 'maxmemory', '1');
  }

  async acceptWrites(): Promise<void> {
    await this.client().config('SET', 'maxmemory', '0');
  }

  /** Stops the server (SIGKILL: no last save); `wipe` deletes its data so the next start is empty. */
  async stop(wipe = false): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise<void>((r) => p.once('exit', () => r()));
      p.kill('SIGKILL');
      await exited;
    }
    if (wipe) {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
    }
  }

  async destroy(): Promise<void> {
    this.admin?.disconnect();
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
