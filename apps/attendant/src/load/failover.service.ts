import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Redis from 'ioredis';
import {
  AMQP_CLIENT, AmqpClient, AttendantConfig, AttendantEnv, ClientInfo, ClientRegistration, FailoverConfig, FailoverMessage, KEYRING, Keyring, LoadReport, MetricsService, REDIS, RateLimitedLog, ReconnectState,
  LatestWriter, RingRow, SIGNATURE_HEADER, ServerRef, Zone, addDeferred, canonicalJson, chooseAlternates, chooseDeferred, dropWaiting, failoverKeys, monitoringKeys, parsePublishedLoads, planInvitations, ringKey, signClientMessage, zoneKey,
} from '@farm/common';
import { ClockService } from '../serving/clock.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from '../tokens';
import { LoadService } from './load.service';

/** Reports older than this are not offered as alternates. */
const MAX_REPORT_AGE_MS = 10_000;

/** Removes each named field only while it still holds the registration the attendant deferred (a client that registered again since stays). */
const UNREGISTER_SAME = `for i = 1, #ARGV, 2 do
  if redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[i + 1] then redis.call('HDEL', KEYS[1], ARGV[i]) end
end
return 1`;

/**
 * The attendant's side of load-aware failover (issue 12): after every load sample, in a zone that
 * defers (defer; brief, for clients registered longer than `briefMs`), it tells the chosen
 * registered clients, each with a signed `failover.defer` on its own queue, to move to the
 * alternates (servers live in the ring table and in accept); back in accept, it invites the
 * deferred ones back with signed `failover.invite`s, `reconnect.setSize` at a time,
 * `reconnect.intervalMs` apart. Needs a `failover:` section and the farm keyring.
 *
 * Memory is the truth once restored from Redis; Redis follows it. A client leaves the waiting
 * list only when the broker confirmed its invitation (else the next sample invites it again),
 * and the Redis writes (off the clients' list, onto the deferred list and off it again) are
 * retried in the background with backoff until Redis takes them, so a Redis that refuses or is
 * away at the wrong moment loses no deferral and never stalls the load sampling.
 */
@Injectable()
export class FailoverService {
  private readonly log = new Logger('Failover');
  private readonly keys;
  private readonly f?: FailoverConfig;
  private reconnect: ReconnectState = { waiting: [] };
  /** Where each deferred client is (its invitation must name the address it registered with), and its group. */
  private readonly addresses = new Map<string, string>();
  private readonly groups = new Map<string, string | undefined>();
  private restored = false;
  private readonly trouble = new RateLimitedLog(60_000);
  /** Registrations (id -> the stored value) to remove from this server's list, until Redis has. */
  private readonly unregistering = new Map<string, string>();
  private readonly unregister: LatestWriter<void>;
  /** The deferred list, written whole (the newest wins) whenever it changes. */
  private readonly saveDeferred: LatestWriter<Record<string, string>>;

  constructor(
    @Inject(ATTENDANT_ENV) private readonly env: AttendantEnv,
    @Inject(ATTENDANT_CONFIG) config: AttendantConfig,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly clock: ClockService,
    private readonly load: LoadService,
    private readonly metrics: MetricsService,
    @Optional() @Inject(KEYRING) private readonly keyring?: Keyring,
  ) {
    this.keys = failoverKeys(env.FARM_NAMESPACE);
    this.f = config.failover;
    const onTrouble = (what: string) => (err: unknown, attempt: number) => {
      if (attempt % 20 === 0) this.log.warn(`cannot ${what} in Redis yet, retrying: ${(err as Error).message}`);
    };
    this.unregister = new LatestWriter(() => this.removeRegistrations(), { onTrouble: onTrouble('take deferred clients off the list') });
    this.saveDeferred = new LatestWriter((list) => this.writeDeferred(list), { onTrouble: onTrouble('store the deferred clients') });
    if (this.f && keyring) load.deferredFrom(() => {
      this.metrics.deferredClients.set(this.reconnect.waiting.length);
      return this.reconnect.waiting.map((c) => c.id).sort();
    });
    if (this.f && keyring) {
      load.onSample((r) =>
        this.act(r).catch((err: Error) => {
          const line = this.trouble.next(`failover step failed, the next sample retries: ${err.message}`);
          if (line) this.log.warn(line);
        }),
      );
    }
    else if (this.f) this.log.warn('failover settings but no keyring (FARM_AUTH=off): clients are not told to move');
  }

  private get me(): ServerRef {
    return { id: this.env.SERVER_ID, address: this.load.repeaterUrl ?? '' };
  }

  private async act(r: LoadReport): Promise<void> {
    const f = this.f as FailoverConfig;
    if (!this.restored) {
      const deferred = Object.entries(await this.redis.hgetall(this.keys.deferred(this.env.SERVER_ID))).map(([id, v]) => ({ id, ...(JSON.parse(v) as { at: number; address: string; group?: string }) }));
      for (const d of deferred) {
        this.addresses.set(d.id, d.address);
        this.groups.set(d.id, d.group);
      }
      this.reconnect = addDeferred(this.reconnect, deferred.map((d) => ({ id: d.id, deferredAt: d.at })));
      this.restored = true;
    }
    const now = this.clock.clock.now();
    const zones = this.load.zonesNow;
    // Each client by its group's zone (a group promised better service moves earlier).
    const zoneOf = (group: string | undefined, returning: boolean): Zone | undefined => zones[zoneKey(group, returning)] ?? zones[zoneKey(undefined, returning)] ?? r.zone;
    // A registration already deferred, whose removal Redis has not taken yet, is not told twice.
    const listed = Object.entries(await this.redis.hgetall(this.keys.clients(this.env.SERVER_ID))).filter(([id, raw]) => this.unregistering.get(id) !== raw);
    const raw = new Map(listed.map(([id, v]) => [id, v]));
    const registered = listed.map(([, v]) => JSON.parse(v) as ClientRegistration);
    const eligible = registered.filter((c) => {
      const z = zoneOf(c.group, false);
      return z === 'defer' || (z === 'brief' && now - c.at >= f.zones.briefMs);
    });
    if (eligible.length > 0) {
      const clients: ClientInfo[] = eligible.map((c) => ({ id: c.id, address: c.address, group: c.group, latencyMs: c.latencyMs }));
      const chosen = chooseDeferred(clients, f.deferral, r.mandatoryDown.length > 0);
      if (chosen.length > 0) await this.defer(chosen, r, now, raw);
    }
    // Invitations: only clients whose group's zone for returning clients is accept.
    const ready = (id: string): boolean => zoneOf(this.groups.get(id), true) === 'accept';
    const plan = planInvitations({ waiting: this.reconnect.waiting.filter((c) => ready(c.id)), lastInvitedAt: this.reconnect.lastInvitedAt }, now, 'accept', f.reconnect);
    if (plan.invite.length === 0) return;
    const back = new Set(registered.map((c) => c.id));
    const done: string[] = [];
    for (const id of plan.invite) {
      if (!back.has(id)) { // else it came back on its own
        try {
          await this.send({ kind: 'invitation', server: this.me, client: { id, address: this.addresses.get(id) ?? '' } }, id, now);
        } catch (err) {
          this.log.warn(`could not invite ${id}, the next sample tries again: ${(err as Error).message}`);
          continue;
        }
      }
      done.push(id);
      this.addresses.delete(id);
      this.groups.delete(id);
    }
    if (done.length === 0) return; // nobody invited: the set is still due
    this.reconnect = dropWaiting({ ...this.reconnect, lastInvitedAt: now }, done);
    void this.saveDeferred.save(this.deferredList());
    this.log.log(`invited back ${done.join(', ')} (score ${r.score}); ${this.reconnect.waiting.length} still deferred`);
  }

  private async defer(chosen: ClientInfo[], r: LoadReport, now: number, raw: ReadonlyMap<string, string>): Promise<void> {
    const [loads, ring] = await Promise.all([this.redis.hvals(monitoringKeys(this.env.FARM_NAMESPACE).load), this.redis.hgetall(ringKey(this.env.FARM_NAMESPACE))]);
    const table = Object.fromEntries(Object.entries(ring).map(([id, v]) => [id, JSON.parse(v) as RingRow]));
    const alternates = chooseAlternates(parsePublishedLoads(loads), table, this.env.SERVER_ID, { maxAgeMs: MAX_REPORT_AGE_MS, now }).map((a) => ({ ...a, address: table[a.id].address }));
    const reason = r.forcedBy === 'mandatory-down' ? `mandatory-down: ${r.mandatoryDown.join(', ')}` : `load ${r.score} (${r.zone})`;
    const moved: string[] = [];
    for (const c of chosen) {
      const m: FailoverMessage = { kind: 'failover', server: this.me, client: { id: c.id, address: c.address }, alternates, reason, score: r.score, components: r.components as FailoverMessage['components'] };
      try {
        await this.send(m, c.id, now);
        moved.push(c.id);
      } catch (err) {
        this.log.warn(`could not tell ${c.id} to move: ${(err as Error).message}`);
      }
    }
    if (moved.length === 0) return;
    // Remembered for the invitations first, then off this server's list until they register again.
    const byId = new Map(chosen.map((c) => [c.id, c]));
    for (const id of moved) {
      this.addresses.set(id, byId.get(id)?.address as string);
      this.groups.set(id, byId.get(id)?.group);
      const stored = raw.get(id);
      if (stored !== undefined) this.unregistering.set(id, stored);
    }
    this.reconnect = addDeferred(this.reconnect, moved.map((id) => ({ id, deferredAt: now })));
    void this.saveDeferred.save(this.deferredList());
    void this.unregister.save();
    this.log.warn(`told ${moved.length} client(s) to move (${reason}); alternates ${alternates.map((a) => a.id).join(', ') || 'none: their own lists'}`);
  }

  /** The deferred list as stored: id -> when, where it registered from, its group. */
  private deferredList(): Record<string, string> {
    return Object.fromEntries(this.reconnect.waiting.map((c) => [c.id, JSON.stringify({ at: c.deferredAt, address: this.addresses.get(c.id), group: this.groups.get(c.id) })]));
  }

  private async writeDeferred(list: Record<string, string>): Promise<void> {
    const key = this.keys.deferred(this.env.SERVER_ID);
    const tx = this.redis.multi().del(key);
    if (Object.keys(list).length > 0) tx.hset(key, list);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err);
    if (!results || failed) throw failed?.[0] ?? new Error('transaction aborted');
  }

  private async removeRegistrations(): Promise<void> {
    const batch = [...this.unregistering];
    if (batch.length === 0) return;
    await this.redis.eval(UNREGISTER_SAME, 1, this.keys.clients(this.env.SERVER_ID), ...batch.flat());
    for (const [id, stored] of batch) if (this.unregistering.get(id) === stored) this.unregistering.delete(id);
  }

  private async send(m: FailoverMessage | { kind: 'invitation'; server: ServerRef; client: ServerRef }, clientId: string, now: number): Promise<void> {
    const header = signClientMessage(this.keyring as Keyring, m, now);
    // In canonical form: the client checks the signature over these bytes without recomputing it.
    try {
      await this.amqp.publish('', this.keys.clientQueue(clientId), Buffer.from(canonicalJson(m)), { contentType: 'application/json', persistent: false, headers: { [SIGNATURE_HEADER]: header } });
    } catch (err) {
      this.metrics.failoverSendFailures.inc({ kind: m.kind });
      throw err;
    }
    this.metrics.failoverMessages.inc({ kind: m.kind });
  }
}
