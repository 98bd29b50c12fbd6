import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import Redis from 'ioredis';
import {
  AMQP_CLIENT, AmqpClient, AttendantConfig, AttendantEnv, ClientInfo, ClientRegistration, FailoverConfig, FailoverMessage, KEYRING, Keyring, LoadReport, MetricsService, REDIS, RateLimitedLog, ReconnectState,
  RingRow, SIGNATURE_HEADER, ServerRef, Zone, addDeferred, canonicalJson, chooseAlternates, chooseDeferred, failoverKeys, monitoringKeys, parsePublishedLoads, planInvitations, ringKey, signClientMessage, zoneKey,
} from '@farm/common';
import { ClockService } from '../serving/clock.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from '../tokens';
import { LoadService } from './load.service';

/** Reports older than this are not offered as alternates. */
const MAX_REPORT_AGE_MS = 10_000;

/**
 * The attendant's side of load-aware failover (issue 12): after every load sample, in a zone that
 * defers (defer; brief, for clients registered longer than `briefMs`), it tells the chosen
 * registered clients, each with a signed `failover.defer` on its own queue, to move to the
 * alternates (servers live in the ring table and in accept); back in accept, it invites the
 * deferred ones back with signed `failover.invite`s, `reconnect.setSize` at a time,
 * `reconnect.intervalMs` apart. Needs a `failover:` section and the farm keyring.
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
    const registered = Object.values(await this.redis.hgetall(this.keys.clients(this.env.SERVER_ID))).map((v) => JSON.parse(v) as ClientRegistration);
    const eligible = registered.filter((c) => {
      const z = zoneOf(c.group, false);
      return z === 'defer' || (z === 'brief' && now - c.at >= f.zones.briefMs);
    });
    if (eligible.length > 0) {
      const clients: ClientInfo[] = eligible.map((c) => ({ id: c.id, address: c.address, group: c.group, latencyMs: c.latencyMs }));
      const chosen = chooseDeferred(clients, f.deferral, r.mandatoryDown.length > 0);
      if (chosen.length > 0) await this.defer(chosen, r, now);
    }
    // Invitations: only clients whose group's zone for returning clients is accept.
    const ready = (id: string): boolean => zoneOf(this.groups.get(id), true) === 'accept';
    const plan = planInvitations({ waiting: this.reconnect.waiting.filter((c) => ready(c.id)), lastInvitedAt: this.reconnect.lastInvitedAt }, now, 'accept', f.reconnect);
    if (plan.invite.length === 0) return;
    const invited = new Set(plan.invite);
    this.reconnect = { waiting: this.reconnect.waiting.filter((c) => !invited.has(c.id)), lastInvitedAt: plan.state.lastInvitedAt };
    const back = new Set(registered.map((c) => c.id));
    for (const id of plan.invite) {
      if (back.has(id)) continue; // came back on its own
      await this.send({ kind: 'invitation', server: this.me, client: { id, address: this.addresses.get(id) ?? '' } }, id, now).catch((err: Error) => this.log.warn(`could not invite ${id}: ${err.message}`));
      this.addresses.delete(id);
      this.groups.delete(id);
    }
    await this.redis.hdel(this.keys.deferred(this.env.SERVER_ID), ...plan.invite);
    this.log.log(`invited back ${plan.invite.join(', ')} (score ${r.score}); ${this.reconnect.waiting.length} still deferred`);
  }

  private async defer(chosen: ClientInfo[], r: LoadReport, now: number): Promise<void> {
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
    // Off this server's list until they register again; remembered for the invitations.
    await this.redis.hdel(this.keys.clients(this.env.SERVER_ID), ...moved);
    const byId = new Map(chosen.map((c) => [c.id, c]));
    for (const id of moved) {
      this.addresses.set(id, byId.get(id)?.address as string);
      this.groups.set(id, byId.get(id)?.group);
    }
    await this.redis.hset(this.keys.deferred(this.env.SERVER_ID), Object.fromEntries(moved.map((id) => [id, JSON.stringify({ at: now, address: byId.get(id)?.address, group: byId.get(id)?.group })])));
    this.reconnect = addDeferred(this.reconnect, moved.map((id) => ({ id, deferredAt: now })));
    this.log.warn(`told ${moved.length} client(s) to move (${reason}); alternates ${alternates.map((a) => a.id).join(', ') || 'none: their own lists'}`);
  }

  private async send(m: FailoverMessage | { kind: 'invitation'; server: ServerRef; client: ServerRef }, clientId: string, now: number): Promise<void> {
    const header = signClientMessage(this.keyring as Keyring, m, now);
    // In canonical form: the client checks the signature over these bytes without recomputing it.
    await this.amqp.publish('', this.keys.clientQueue(clientId), Buffer.from(canonicalJson(m)), { contentType: 'application/json', persistent: false, headers: { [SIGNATURE_HEADER]: header } });
    this.metrics.failoverMessages.inc({ kind: m.kind });
  }
}
