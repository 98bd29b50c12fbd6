import * as amqp from 'amqplib';
import Redis from 'ioredis';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { DevCredentials, ensureDevCredentials } from '../../libs/common/src/auth/dev-credentials';
import { BrokerProcess, brokerAccounts, deleteBrokerUsers, provisionBrokerUsers } from '../../libs/common/src/auth/broker-provision';
import { BrokerRole, brokerUser } from '../../libs/common/src/auth/broker-users';
import { mailboxQueue, topology } from '../../libs/common/src/contracts/topology';
import { uniqueNamespace } from '../../libs/common/src/testing/brokers';
import { AppProcess, AvailabilitySnapshot, REPO_ROOT } from '../../libs/common/src/testing/farm-process';
import { waitFor } from '../../libs/common/src/testing/wait-for';

export const RABBITMQ_URL = (): string => process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
export const REDIS_URL = (): string => process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A farm of real processes for one suite, in a namespace of its own: repeater nodes and a
 * notifier started from dist/, a direct AMQP connection and a Redis client for acting on the
 * broker and the store, and cleanup of everything the namespace created.
 */
export class TestFarm {
  readonly ns: string;
  readonly t;
  readonly nodes = new Map<string, AppProcess>();
  notifier?: AppProcess;
  poller?: AppProcess;
  readonly attendants = new Map<string, AppProcess>();
  redis: Redis;
  /** The farm's token and key files; `token` is an admin operator token. */
  readonly creds: DevCredentials;
  private readonly credsDir: string;
  private configDir?: string;
  private conn?: amqp.ChannelModel;
  private ch?: Promise<amqp.ConfirmChannel>;
  /** Broker users of this farm's processes (user -> URL), once `withBrokerUsers` made them; else every process connects as the test broker's user. */
  private brokerUrls?: Map<string, string>;

  constructor(name: string, private readonly baseEnv: Record<string, string> = {}) {
    this.ns = uniqueNamespace(name);
    this.t = topology(this.ns);
    this.credsDir = mkdtempSync(join(tmpdir(), `${this.ns}-auth-`));
    this.creds = ensureDevCredentials(this.credsDir);
    this.redis = new Redis(baseEnv.REDIS_URL ?? REDIS_URL(), { maxRetriesPerRequest: null });
    this.redis.on('error', () => undefined);
  }

  env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
    return {
      FARM_NAMESPACE: this.ns,
      RABBITMQ_URL: RABBITMQ_URL(),
      REDIS_URL: REDIS_URL(),
      APP_DEPENDENCIES: join(REPO_ROOT, 'config', 'applications.yaml'),
      PING_INTERVAL_MS: '500',
      SYNC_TIMEOUT_MS: '3000',
      FARM_BROKER_USERS: this.brokerUrls ? 'per-process' : 'shared',
      ...this.creds.env,
      ...this.baseEnv,
      ...extra,
    };
  }

  /** Starts (or restarts, on the same port) a repeater node and waits until it is healthy. */
  async startNode(id: string, extra: Record<string, string | undefined> = {}, waitReady = true): Promise<AppProcess> {
    let node = this.nodes.get(id);
    if (!node || Object.keys(extra).length > 0) {
      const port = node?.port ?? 0;
      node = new AppProcess({ app: 'repeater', name: `${this.ns}-${id}`, env: { ...this.env({ ...this.brokerEnv('node', id), ...extra }), NODE_ID: id }, token: this.creds.token });
      node.port = port;
      this.nodes.set(id, node);
    }
    await node.start();
    return waitReady ? node.ready() : node;
  }

  async startNotifier(extra: Record<string, string> = {}): Promise<AppProcess> {
    this.notifier ??= new AppProcess({ app: 'notifier', name: `${this.ns}-notifier`, env: this.env({ ...this.brokerEnv('notifier'), ...extra }), token: this.creds.token });
    await this.notifier.start();
    return this.notifier.ready();
  }

  /** Writes an attendant configuration (object as JSON, string as YAML) to a temp file; returns its path. */
  writeConfig(name: string, config: object | string): string {
    this.configDir ??= mkdtempSync(join(tmpdir(), `${this.ns}-`));
    const path = join(this.configDir, typeof config === 'string' ? `${name}.yaml` : `${name}.json`);
    writeFileSync(path, typeof config === 'string' ? config : JSON.stringify(config, null, 2));
    return path;
  }

  /** Starts (or restarts) an attendant for `serverId` with a configuration file. */
  async startAttendant(serverId: string, config?: object | string, extra: Record<string, string | undefined> = {}, waitReady = true): Promise<AppProcess> {
    let a = this.attendants.get(serverId);
    if (!a || config !== undefined || Object.keys(extra).length > 0) {
      const path = config === undefined ? a?.opts.env.ATTENDANT_CONFIG : this.writeConfig(serverId, config);
      a = new AppProcess({ app: 'attendant', name: `${this.ns}-attendant-${serverId}`, env: { ...this.env({ ...this.brokerEnv('attendant', serverId), ...extra }), SERVER_ID: serverId, ATTENDANT_CONFIG: path }, token: this.creds.token });
      this.attendants.set(serverId, a);
    }
    await a.start();
    return waitReady ? a.ready() : a;
  }

  async startPoller(extra: Record<string, string> = {}): Promise<AppProcess> {
    if (!this.poller || Object.keys(extra).length > 0) this.poller = new AppProcess({ app: 'poller', name: `${this.ns}-poller`, env: this.env({ ...this.brokerEnv('poller'), ...extra }), token: this.creds.token });
    await this.poller.start();
    return this.poller.ready();
  }

  /**
   * Gives the farm's processes broker users of their own (created with rabbitmqctl on the test
   * broker, deleted at cleanup): nodes started afterwards connect as `<ns>.node.<id>` with
   * FARM_BROKER_USERS=per-process. Returns each user's URL, for the test's own clients.
   */
  async withBrokerUsers(processes: BrokerProcess[]): Promise<Map<string, string>> {
    this.brokerUrls = await provisionBrokerUsers(brokerAccounts(this.ns, processes), RABBITMQ_URL());
    return this.brokerUrls;
  }

  /** The URL of a process's own broker user (after `withBrokerUsers`). */
  brokerUrl(role: BrokerRole, id?: string): string {
    const url = this.brokerUrls?.get(brokerUser(this.ns, role, id));
    if (!url) throw new Error(`no broker user for ${role}${id ? ` ${id}` : ''}: call withBrokerUsers first`);
    return url;
  }

  private brokerEnv(role: BrokerRole, id?: string): Record<string, string> {
    return this.brokerUrls?.has(brokerUser(this.ns, role, id)) ? { RABBITMQ_URL: this.brokerUrl(role, id) } : {};
  }

  node(id: string): AppProcess {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** One confirm channel for the suite (opened once, even when asked concurrently). */
  channel(): Promise<amqp.ConfirmChannel> {
    this.ch ??= (async () => {
      const conn = await amqp.connect(RABBITMQ_URL());
      this.conn = conn;
      conn.on('error', () => undefined);
      // After a broker restart the next call opens a new connection.
      conn.on('close', () => {
        if (this.conn === conn) this.ch = undefined;
      });
      const ch = await conn.createConfirmChannel();
      ch.on('error', () => undefined);
      ch.on('close', () => {
        if (this.conn === conn) this.ch = undefined;
      });
      return ch;
    })();
    return this.ch;
  }

  /** Publishes raw bytes to the ingress exchange, as any AMQP client may, and waits for the confirm. */
  /** Publishes to `<ns>.ingress` as any AMQP client may (routing key `notification`, or `notification.urgent` for the urgent lane) and waits for the confirm. */
  async publishRaw(body: Buffer | string, options: amqp.Options.Publish = {}, routingKey = 'notification'): Promise<void> {
    const ch = await this.channel();
    ch.publish(this.t.ingressExchange, routingKey, Buffer.isBuffer(body) ? body : Buffer.from(body), { persistent: true, ...options });
    await ch.waitForConfirms();
  }

  async publish(n: Record<string, unknown>): Promise<void> {
    await this.publishRaw(JSON.stringify(n));
  }

  /**
   * Waits until a node's audit (`<ns>:node:<id>:audit` in Redis) gives what `pick` looks for, and
   * returns it. A node shows an entry in its cache a moment before its Redis write (entry and audit
   * line, in one script) lands, so a test that counts audit lines waits for them first.
   */
  auditWhen<T>(node: string, what: string, pick: (lines: string[]) => T | undefined, timeoutMs = 10_000): Promise<T> {
    return waitFor(what, async () => pick(await this.redis.lrange(`${this.ns}:node:${node}:audit`, 0, -1)), timeoutMs, 50);
  }

  /** A node's audit lines that `match`, once there are at least `atLeast` of them. */
  auditLines(node: string, match: (line: string) => boolean, atLeast: number, what = `${atLeast} audit line(s) on ${node}`): Promise<string[]> {
    return this.auditWhen(node, what, (lines) => {
      const found = lines.filter(match);
      return found.length >= atLeast ? found : undefined;
    });
  }

  /** A node's whole state: every page of GET /v1/availability. */
  async snapshot(id: string): Promise<AvailabilitySnapshot> {
    return this.node(id).snapshot();
  }

  /** Waits until every running node holds `count` entries and all digests are equal. */
  async converged(count: number, ids = [...this.nodes.keys()], timeoutMs = 15_000): Promise<AvailabilitySnapshot[]> {
    let seen = 'nothing read yet';
    try {
      return await waitFor(`nodes ${ids.join(', ')} converged on ${count} entries`, async () => {
        const snaps = await Promise.all(ids.map((id) => this.snapshot(id)));
        seen = snaps.map((s, i) => `${ids[i]}=${s.count} (${s.digest.slice(0, 8)})`).join(', ');
        const ok = snaps.every((s) => s.count === count && s.digest === snaps[0].digest);
        return ok ? snaps : undefined;
      }, timeoutMs, 100);
    } catch (err) {
      // Say what the nodes held at the end, so a failure tells lost from slow.
      throw new Error(`${(err as Error).message}; last seen: ${seen}`, { cause: err });
    }
  }

  async deadLetters(): Promise<{ reason: string; body: string }[]> {
    const ch = await this.channel();
    const out: { reason: string; body: string }[] = [];
    for (;;) {
      const m = await ch.get(this.t.deadQueue, { noAck: true });
      if (!m) return out;
      out.push({ reason: String(m.properties.headers?.['x-reject-reason'] ?? ''), body: m.content.toString('utf8').slice(0, 200) });
    }
  }

  /** Lines of every process log of this farm that match the pattern (e.g. channel errors). */
  logLines(pattern: RegExp): string[] {
    const apps = [...this.nodes.values(), ...this.attendants.values(), ...(this.notifier ? [this.notifier] : []), ...(this.poller ? [this.poller] : [])];
    const out: string[] = [];
    for (const a of apps) {
      let text: string;
      try {
        text = readFileSync(a.logFile, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n')) if (pattern.test(line)) out.push(`${a.opts.name}: ${line}`);
    }
    return out;
  }

  /** Every line of every process log of this farm, parsed; lines that are not one JSON object go to `notJson`. */
  logRecords(): { records: (Record<string, unknown> & { process: string })[]; notJson: string[] } {
    const records: (Record<string, unknown> & { process: string })[] = [];
    const notJson: string[] = [];
    for (const line of this.logLines(/./)) {
      const [process, text] = [line.slice(0, line.indexOf(': ')), line.slice(line.indexOf(': ') + 2)];
      try {
        const o: unknown = JSON.parse(text);
        if (o === null || typeof o !== 'object' || Array.isArray(o)) throw new Error('not an object');
        records.push({ ...(o as Record<string, unknown>), process });
      } catch {
        notJson.push(line);
      }
    }
    return { records, notJson };
  }

  /** Entry ids a node holds in Redis. */
  async storedIds(nodeId: string): Promise<Set<string>> {
    const all = await this.redis.hvals(`${this.ns}:node:${nodeId}:entries`);
    return new Set(all.map((j) => (JSON.parse(j) as { id: string }).id));
  }

  async cleanup(): Promise<void> {
    const apps = [...this.nodes.values(), ...this.attendants.values(), ...(this.notifier ? [this.notifier] : []), ...(this.poller ? [this.poller] : [])];
    await Promise.all(apps.map((p) => p.flushCoverage()));
    await Promise.all(apps.map((p) => p.stop('SIGKILL')));
    try {
      const conn = await amqp.connect(RABBITMQ_URL());
      conn.on('error', () => undefined);
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      for (const q of [this.t.ingressQueue, this.t.ingressUrgentQueue, this.t.deadQueue, ...[...this.nodes.keys()].flatMap((id) => [this.t.nodeQueue(id), this.t.nodeUrgentQueue(id)]), ...[...this.attendants.keys()].map((id) => mailboxQueue(this.ns, id))]) await ch.deleteQueue(q).catch(() => undefined);
      for (const x of [this.t.ingressExchange, this.t.fanoutExchange, this.t.fanoutUrgentExchange, this.t.deadLetterExchange]) await ch.deleteExchange(x).catch(() => undefined);
      await conn.close();
    } catch {
      /* broker gone: nothing to clean */
    }
    if (this.brokerUrls) await deleteBrokerUsers([...this.brokerUrls.keys()]).catch(() => undefined);
    const keys = await this.redis.keys(`${this.ns}:*`);
    if (keys.length) await this.redis.del(...keys);
    this.redis.disconnect();
    await this.conn?.close().catch(() => undefined);
    rmSync(this.credsDir, { recursive: true, force: true });
  }

  /** The Authorization header of the farm's admin token, for a test's own requests. */
  auth(): Record<string, string> {
    return { authorization: `Bearer ${this.creds.token}` };
  }
}

/** Timestamps of test notifications start an hour before the run: recent (inside the retention window) and never in the future. */
export const BASE_TIME = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

export function notification(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  return { target: `app${i}`, available: false, reason: 'outage', message: `n${i}`, id: `id-${String(i).padStart(6, '0')}`, timestamp: new Date(BASE_TIME + i).toISOString(), ...over };
}
