import { EventEmitter } from 'node:events';
import type Redis from 'ioredis';
import { Counter, Registry } from 'prom-client';
import { SIGNATURE_HEADER } from '../auth/command-signature';
import { RedisNonceCache } from '../auth/command-verifier';
import { Keyring } from '../auth/keyring';
import type { RefusalLog } from '../auth/refusal-log';
import { failoverKeys, monitoringKeys, ringKey } from '../contracts/topology';
import { LoggerLike } from '../logging';
import { AmqpClient } from '../messaging/amqp-client';
import { backoffDelay } from '../messaging/retry';
import { Delivery, Subscription } from '../messaging/subscription';
import { RingRow } from '../domain/ring';
import { Alternate, ServerRef, clientAlternates, parsePublishedLoads, routableServers } from './alternates';
import { ConnectDecision, decideConnect, zoneKey } from './zones';
import { ClientMessage, verifyClientMessage } from './failover-message';

/** What a client tells a server's attendant about itself (its registration). */
export interface ClientRegistration {
  id: string;
  /** Where the client is (for the message's signed `client.address`; e.g. its host:port). */
  address: string;
  group?: string;
  /** Round trip the client measured to the server, ms (deferral by topology uses it). */
  latencyMs?: number;
  /** When it registered (ms). */
  at: number;
}

export interface FailoverClientOptions {
  id: string;
  address: string;
  group?: string;
  latencyMs?: number;
  ns: string;
  /** Where the client starts. */
  server: ServerRef;
  /** Its own list of servers, used when a failover message offers none. */
  configured?: ServerRef[];
  keyring: Keyring;
  redis: Redis;
  amqp: AmqpClient;
  log: LoggerLike;
  now?: () => number;
  /** How old a server's published load may be and still count (default 10 s). */
  maxReportAgeMs?: number;
  /** The brief zone's grace for new clients (the servers' `briefMs`; default 30 s). */
  briefMs?: number;
  /** Signed messages are accepted within this many ms either way (default 30 s). */
  windowMs?: number;
  /** Refused messages go here too (the poller's feed). */
  refusals?: RefusalLog;
  /**
   * Counts into this Prometheus registry (the service's own /metrics), labelled by client id:
   * `farm_failover_client_messages_total{client,kind}` accepted,
   * `farm_failover_client_refused_total{client,reason}`, `farm_failover_client_moves_total{client,cause}`
   * (cause: deferred, invited, connected, server-failed). Several clients may share one registry.
   */
  registry?: Registry;
  /** start() gives up after this many ms without its queue consumed (default: waits as long as it takes). */
  startTimeoutMs?: number;
}

type MoveCause = 'deferred' | 'invited' | 'connected' | 'server-failed';

/** A counter of the registry, created by the first client that needs it. */
function counterIn(registry: Registry, name: string, help: string, labelNames: string[]): Counter<string> {
  return (registry.getSingleMetric(name) as Counter<string> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
}

/**
 * A service's side of load-aware failover (issue 12), for any Node service: it registers with its
 * server's attendant (in Redis: id, group, address, latency), consumes its own queue
 * `<ns>.client.<id>`, and obeys signed messages from the server it is on: `failover.defer` moves it
 * to the first alternate offered (or of its own list), `failover.invite` brings it back. A forged,
 * truncated, replayed, stale or misdirected message changes nothing: it is counted, logged and
 * recorded for the operators. Emits `moved` (from, to, why) and `refused` (reason, message).
 */
export class FailoverClient extends EventEmitter {
  current: ServerRef;
  /** Messages refused, by reason. */
  readonly refused: Record<string, number> = {};
  /** Messages accepted (verified), by kind. */
  readonly accepted = { failover: 0, invitation: 0 };
  private sub?: Subscription;
  private readonly nonces: RedisNonceCache;
  /** Nonces this client claimed whose message it has not yet obeyed (its handling is being retried). */
  private readonly unfinished = new Set<string>();
  private readonly now: () => number;
  private readonly me: ServerRef;
  private readonly counters?: { accepted: Counter<string>; refused: Counter<string>; moves: Counter<string> };

  constructor(private readonly opts: FailoverClientOptions) {
    super();
    this.current = opts.server;
    this.me = { id: opts.id, address: opts.address };
    this.nonces = new RedisNonceCache(opts.redis, opts.ns);
    this.now = opts.now ?? Date.now;
    const r = opts.registry;
    if (r) {
      this.counters = {
        accepted: counterIn(r, 'farm_failover_client_messages_total', 'Signed failover messages a client verified and obeyed, by kind', ['client', 'kind']),
        refused: counterIn(r, 'farm_failover_client_refused_total', 'Failover messages a client refused, by reason (forged, replayed, stale, truncated, misdirected, ...)', ['client', 'reason']),
        moves: counterIn(r, 'farm_failover_client_moves_total', 'Moves of a client to another server, by cause', ['client', 'cause']),
      };
    }
  }

  get id(): string {
    return this.opts.id;
  }

  get address(): string {
    return this.opts.address;
  }

  get queue(): string {
    return failoverKeys(this.opts.ns).clientQueue(this.opts.id);
  }

  /** Whether its queue exists and it consumes it (messages sent now reach it). */
  get consuming(): boolean {
    return this.sub?.consuming ?? false;
  }

  /**
   * Consumes its queue and, once it does, registers with its server: an attendant never learns of
   * a client whose queue is not there yet (a message to it would be dropped as unroutable).
   */
  async start(): Promise<void> {
    this.sub = this.opts.amqp.subscribe({
      queue: this.queue,
      prefetch: 16,
      assert: (ch) => ch.assertQueue(this.queue, { durable: false, exclusive: true, autoDelete: true }),
      handler: (d) => this.handle(d),
    });
    await this.sub.whenConsuming(this.opts.startTimeoutMs);
    await this.register(this.current);
  }

  async stop(): Promise<void> {
    await this.opts.redis.hdel(failoverKeys(this.opts.ns).clients(this.current.id), this.opts.id).catch(() => undefined);
    await this.sub?.pause().catch(() => undefined);
  }

  /**
   * Where to go now (a start, or the client's own requests failing): the servers live in the ring
   * table whose fresh published load says accept, best first; `exclude` leaves one out.
   */
  async routable(exclude?: string): Promise<Alternate[]> {
    const k = monitoringKeys(this.opts.ns);
    const [loads, ring] = await Promise.all([this.opts.redis.hvals(k.load), this.opts.redis.hgetall(ringKey(this.opts.ns))]);
    const table = Object.fromEntries(Object.entries(ring).map(([id, v]) => [id, JSON.parse(v) as RingRow]));
    return routableServers(parsePublishedLoads(loads), table, { exclude, maxAgeMs: this.opts.maxReportAgeMs ?? 10_000, now: this.now() });
  }

  /**
   * Asks to connect to `server` (client-initiated): decided by the zone the server's attendant
   * last published for this client's group (accept: connect; brief: connect, to be deferred after its grace; otherwise
   * refused, with the alternates). A server with no fresh report counts as deferring. On
   * acceptance the client registers there and moves.
   */
  async connect(server: ServerRef): Promise<ConnectDecision> {
    const raw = await this.opts.redis.hget(monitoringKeys(this.opts.ns).load, server.id);
    const report = raw ? parsePublishedLoads([raw])[0] : undefined;
    const fresh = report && this.now() - report.at <= (this.opts.maxReportAgeMs ?? 10_000);
    const zone = fresh ? (report.zones?.[zoneKey(this.opts.group, false)] ?? report.zone) : 'defer';
    const decision = decideConnect(zone, this.opts.briefMs ?? 30_000, await this.routable(server.id));
    if (decision.kind !== 'refuse' && server.id !== this.current.id) await this.move(server, 'connected on request', 'connected');
    return decision;
  }

  /**
   * The client's own requests to its server fail (its timeout fired R times, say): it moves to the
   * best routable server, or the first of its configured list, and returns where it went; undefined
   * when there is nowhere to go (retry after `retryDelayMs(attempt)`).
   */
  async serverFailed(why: string): Promise<ServerRef | undefined> {
    const next = clientAlternates(await this.routable(this.current.id), this.opts.configured ?? [], this.current.id)[0];
    if (next) await this.move(next, `its server failed: ${why}`, 'server-failed');
    return next;
  }

  /** Capped, jittered backoff before the next try when nowhere would take the client. */
  retryDelayMs(attempt: number): number {
    return backoffDelay(attempt, { baseMs: 500, capMs: 30_000 });
  }

  private async register(server: ServerRef): Promise<void> {
    const reg: ClientRegistration = { id: this.opts.id, address: this.opts.address, at: this.now(), ...(this.opts.group ? { group: this.opts.group } : {}), ...(this.opts.latencyMs !== undefined ? { latencyMs: this.opts.latencyMs } : {}) };
    await this.opts.redis.hset(failoverKeys(this.opts.ns).clients(server.id), this.opts.id, JSON.stringify(reg));
  }

  private async move(to: ServerRef, why: string, cause: MoveCause): Promise<void> {
    const from = this.current;
    await this.opts.redis.hdel(failoverKeys(this.opts.ns).clients(from.id), this.opts.id);
    await this.register(to);
    this.current = to;
    this.opts.log.log(`moved from ${from.id} to ${to.id} (${why})`);
    this.counters?.moves.inc({ client: this.opts.id, cause });
    this.emit('moved', from, to, why);
  }

  private refuse(reason: string, message: string, claimedSender?: string): void {
    this.refused[reason] = (this.refused[reason] ?? 0) + 1;
    this.counters?.refused.inc({ client: this.opts.id, reason });
    this.opts.log.warn(`refused a failover message (${reason}) claiming to come from ${claimedSender ?? 'nobody'}: ${message}`);
    this.opts.refusals?.record({ receiver: this.opts.id, command: 'failover', reason, message, claimedSender });
    this.emit('refused', reason, message);
  }

  private async handle(d: Delivery): Promise<void> {
    let body: unknown;
    const raw = d.content.toString('utf8');
    try {
      body = JSON.parse(raw);
    } catch {
      return this.refuse('malformed', 'not JSON');
    }
    const header = d.msg.properties.headers?.[SIGNATURE_HEADER] as unknown;
    const v = verifyClientMessage(this.opts.keyring, typeof header === 'string' ? header : undefined, body, this.me, this.now(), this.opts.windowMs, raw);
    const claimed = (body as Partial<ClientMessage> | null)?.server?.id;
    if (!v.ok) return this.refuse(v.reason, v.message, typeof claimed === 'string' ? claimed : undefined);
    // A delivery retried after trouble (Redis refused the move, say) finds its nonce claimed by
    // this very client: it goes on. Any other second sight of the nonce is a replay.
    const own = `${v.head.sender}/${v.head.nonce}`;
    if (!this.unfinished.has(own)) {
      if (!(await this.nonces.claim(this.opts.id, v.head, 2 * (this.opts.windowMs ?? 30_000) + 1000))) return this.refuse('replayed', `nonce ${v.head.nonce.slice(0, 8)}… seen before`, v.head.sender);
      this.unfinished.add(own);
    }
    await this.obey(v.message);
    this.unfinished.delete(own);
    this.accepted[v.message.kind]++;
    this.counters?.accepted.inc({ client: this.opts.id, kind: v.message.kind });
  }

  private async obey(m: ClientMessage): Promise<void> {
    if (m.kind === 'invitation') {
      if (m.server.id !== this.current.id) await this.move(m.server, 'invited back', 'invited');
      return;
    }
    if (m.server.id !== this.current.id) return; // from a server it already left: nothing to do
    const next = clientAlternates(m.alternates, this.opts.configured ?? [], m.server.id)[0];
    if (!next) {
      this.opts.log.warn(`${m.server.id} defers this client (${m.reason}) but neither it nor the configured list offers another server`);
      return;
    }
    await this.move(next, `deferred by ${m.server.id}: ${m.reason}`, 'deferred');
  }
}
