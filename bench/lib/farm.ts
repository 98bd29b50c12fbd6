import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import Redis from 'ioredis';
import { DevCredentials, ensureDevCredentials } from '../../libs/common/src/auth/dev-credentials';
import { redisKeys, topology } from '../../libs/common/src/contracts/topology';
import { AppProcess, REPO_ROOT } from '../../libs/common/src/testing/farm-process';
import { AuditLine } from '../../libs/common/src/redis/entry.repository';
import { errorMessage } from './util';

export interface Health {
  status: string;
  nodeId: string;
  entries: number;
  digest: string;
}

/** A sample's value in a Prometheus text exposition (`name` may end with an escaped label set). */
export const metricValue = (text: string, name: string): number => Number(new RegExp(`^${name} ([0-9.eE+-]+)$`, 'm').exec(text)?.[1] ?? NaN);

/**
 * The repeaters of one benchmark run, in one namespace of their own: starts them from dist,
 * remembers every process and node id, and at the end stops them all and deletes every
 * queue, exchange and Redis key of the namespace.
 */
export class BenchFarm {
  readonly procs = new Map<string, AppProcess>();
  private readonly nodeIds = new Set<string>();
  readonly logDir: string;
  /** Repeaters that exited during start and were started again. */
  readonly restarts: string[] = [];

  constructor(
    readonly ns: string,
    readonly rabbitmqUrl: string,
    readonly redisUrl: string,
    readonly redis: Redis,
  ) {
    this.logDir = join(REPO_ROOT, '.farm', 'logs', ns);
    this.creds = ensureDevCredentials(join(this.logDir, 'auth'));
  }

  /** The bench farm's token and key files (FARM_AUTH on, as deployed). */
  readonly creds: DevCredentials;

  get t(): ReturnType<typeof topology> {
    return topology(this.ns);
  }

  auditKey(nodeId: string): string {
    return redisKeys(this.ns, nodeId).audit;
  }

  entriesKey(nodeId: string): string {
    return redisKeys(this.ns, nodeId).entries;
  }

  /** Spawns a repeater (not waiting for health). */
  async spawn(nodeId: string, env: Record<string, string> = {}): Promise<AppProcess> {
    this.nodeIds.add(nodeId);
    const p = new AppProcess({
      app: 'repeater',
      name: nodeId,
      logDir: this.logDir,
      env: { NODE_ID: nodeId, FARM_NAMESPACE: this.ns, RABBITMQ_URL: this.rabbitmqUrl, REDIS_URL: this.redisUrl, AUDIT_MAX: '1000000', FARM_BROKER_USERS: 'shared', ...this.creds.env, ...env },
      token: this.creds.token,
    });
    this.procs.set(nodeId, p);
    await p.start();
    return p;
  }

  /**
   * Waits for GET /v1/health to answer 200, failing at once if the process exits meanwhile. A
   * process that exits during start is started once more (the shared dist may have been
   * rebuilt under it), and that is counted in `restarts`.
   */
  async ready(nodeId: string, timeoutMs: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const p = this.node(nodeId);
      const proc = p.proc;
      let onExit: (() => void) | undefined;
      const exited = new Promise<'exited'>((r) => {
        onExit = () => r('exited');
        if (proc && (proc.exitCode !== null || proc.signalCode !== null)) r('exited');
        else proc?.once('exit', onExit);
      });
      const ready = p.ready(timeoutMs).then(() => 'ready' as const);
      ready.catch(() => undefined); // still polling when the process exited first
      const outcome = await Promise.race([ready, exited]);
      if (onExit) proc?.removeListener('exit', onExit);
      if (outcome === 'ready') return;
      if (attempt >= 2) throw new Error(`${nodeId} exited with ${proc?.exitCode ?? proc?.signalCode} during start (log: ${p.logFile})`);
      this.restarts.push(`${nodeId} exited with ${proc?.exitCode ?? proc?.signalCode} during start; started again`);
      await new Promise((r) => setTimeout(r, 3000));
      await p.start();
    }
  }

  async health(nodeId: string): Promise<Health> {
    return this.node(nodeId).get<Health>('/v1/health');
  }

  node(nodeId: string): AppProcess {
    const p = this.procs.get(nodeId);
    if (!p) throw new Error(`no repeater ${nodeId}`);
    return p;
  }

  /** VmRSS of a process in MB, from /proc/<pid>/status. */
  rssMb(nodeId: string): number {
    return this.statusMb(nodeId, 'VmRSS');
  }

  /** The most RSS a node has had since it started (the kernel's high-water mark): what a memory limit must allow. */
  peakRssMb(nodeId: string): number {
    return this.statusMb(nodeId, 'VmHWM');
  }

  private statusMb(nodeId: string, field: 'VmRSS' | 'VmHWM'): number {
    const pid = this.node(nodeId).pid;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    if (!m) throw new Error(`no ${field} for pid ${pid}`);
    return Number(m[1]) / 1024;
  }

  /** A node's GET /metrics text. */
  async scrape(nodeId: string): Promise<string> {
    const p = this.node(nodeId);
    return (await fetch(`${p.url}/metrics`, { headers: p.auth() })).text();
  }

  /** Re-broadcast messages the broker confirmed to these nodes so far (each carries one notification or a batch). */
  async rebroadcasts(nodeIds: string[]): Promise<number> {
    const texts = await Promise.all(nodeIds.map((n) => this.scrape(n)));
    return texts.reduce((sum, t) => sum + (metricValue(t, 'farm_messages_published_total\\{exchange="fanout"\\}') || 0), 0);
  }

  async auditLength(nodeId: string): Promise<number> {
    return this.redis.llen(this.auditKey(nodeId));
  }

  /** The newest `n` audit lines of a node (newest first). */
  async newestAudit(nodeId: string, n: number): Promise<AuditLine[]> {
    if (n <= 0) return [];
    const out: AuditLine[] = [];
    for (let from = 0; from < n; from += 20_000) {
      const lines = await this.redis.lrange(this.auditKey(nodeId), from, Math.min(n, from + 20_000) - 1);
      for (const l of lines) out.push(JSON.parse(l) as AuditLine);
    }
    return out;
  }

  async stop(nodeId: string): Promise<void> {
    await this.procs.get(nodeId)?.stop('SIGTERM', 10_000);
    this.procs.delete(nodeId);
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((id) => this.stop(id).catch(() => undefined)));
  }

  /** Deletes the queues of nodes that are gone for good (their fanout queues would keep filling until they expire). */
  async dropQueues(nodeIds: string[]): Promise<void> {
    const conn = await amqp.connect(this.rabbitmqUrl, { noDelay: true });
    try {
      for (const q of nodeIds.flatMap((id) => [this.t.nodeQueue(id), this.t.nodeUrgentQueue(id), this.t.rpcQueue(id)])) {
        const ch = await conn.createChannel();
        ch.on('error', () => undefined);
        await ch.deleteQueue(q).catch(() => undefined);
        await ch.close().catch(() => undefined);
      }
    } finally {
      await conn.close().catch(() => undefined);
    }
  }

  /** Deletes every queue, exchange and Redis key of the namespace. */
  async cleanup(extraQueues: string[] = [], extraExchanges: string[] = []): Promise<string[]> {
    const problems: string[] = [];
    const t = this.t;
    const queues = [t.ingressQueue, t.ingressUrgentQueue, t.deadQueue, ...[...this.nodeIds].flatMap((id) => [t.nodeQueue(id), t.nodeUrgentQueue(id), t.rpcQueue(id)]), ...extraQueues];
    const exchanges = [t.ingressExchange, t.fanoutExchange, t.fanoutUrgentExchange, t.deadLetterExchange, ...extraExchanges];
    try {
      const conn = await amqp.connect(this.rabbitmqUrl, { noDelay: true });
      try {
        for (const q of queues) {
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          await ch.deleteQueue(q).catch((e: unknown) => problems.push(`queue ${q}: ${errorMessage(e)}`));
          await ch.close().catch(() => undefined);
        }
        for (const x of exchanges) {
          const ch = await conn.createChannel();
          ch.on('error', () => undefined);
          await ch.deleteExchange(x).catch((e: unknown) => problems.push(`exchange ${x}: ${errorMessage(e)}`));
          await ch.close().catch(() => undefined);
        }
      } finally {
        await conn.close().catch(() => undefined);
      }
    } catch (err) {
      problems.push(`AMQP cleanup: ${errorMessage(err)}`);
    }
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.scan(cursor, 'MATCH', `${this.ns}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await this.redis.del(...keys);
      } while (cursor !== '0');
    } catch (err) {
      problems.push(`Redis cleanup: ${errorMessage(err)}`);
    }
    return problems;
  }
}
