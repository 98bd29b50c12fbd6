import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import { PollerEnv, splitList } from '../config/monitoring.env';
import { BrokerUnavailableError, ConfigError } from '../domain/errors';
import type { Notification } from '../domain/notification';
import { checkDto, parseJson, parseNotification } from '../contracts/validation';
import { AppChange, AppHealth, HealthSettings, emptyHealth, forgetServer, hasPending, observe, observeSilence, recordObservations } from './app-health';
import { ClockEstimate, estimateOffset, judgeClock } from './clock';
import { Compilation, CompilationDto, Deficiency, SetClockReplyDto } from './compilation';
import { certainlyValidCompilation } from './fast-compilation';
import { PollChange, PollOutcome, PollSettings, ServerRecord, applyPoll, dueServers, listOf, newServerRecord, validIntervals } from './escalation';
import type { DeficiencyKind } from './compilation';

/** What the poller needs from the world; the Nest app wires RabbitMQ and Redis, tests and benches may wire others. */
export interface PollerPorts {
  /** Sends one request to a server's attendant queue and resolves with the raw reply. */
  request(serverId: string, body: Buffer, timeoutMs: number): Promise<Buffer>;
  /** Whether requests can be sent at all (false while the poller's own broker link is down). */
  canRequest(): boolean;
  saveRecord(record: ServerRecord): Promise<void>;
  deleteRecord(serverId: string): Promise<void>;
  saveHealth(health: PersistedHealth): Promise<void>;
  /** Publishes a notification through the notifier's path; resolves once the broker confirmed it. */
  publish(n: Notification): Promise<void>;
  /** The master clock. */
  now(): number;
}

export interface PollerOptions {
  poll: PollSettings;
  health: HealthSettings;
  timeoutMs: number;
  concurrency: number;
  clockMaxDiffMs: number;
  /** Clock samples with a longer network round trip are not read as drift (default 1000). */
  clockMaxRttMs?: number;
  /** Who the poller says it is in set-clock commands and notifications. */
  name: string;
}

/** The engine's settings from the poller's environment; a ConfigError names a bad interval list. */
export function pollerOptions(env: PollerEnv, name = 'poller'): PollerOptions {
  const intervalsMs = env.POLL_INTERVALS_MS.split(',').map(Number);
  const problem = validIntervals(intervalsMs);
  if (problem) throw new ConfigError(`invalid configuration:\n  POLL_INTERVALS_MS=${JSON.stringify(env.POLL_INTERVALS_MS)}: ${problem}`);
  return {
    poll: { intervalsMs, escalateOn: new Set(splitList(env.ESCALATE_ON) as DeficiencyKind[]), escalateServices: new Set(splitList(env.ESCALATE_SERVICES)) },
    health: { notifyAfter: env.NOTIFY_AFTER, notifyOn: new Set(splitList(env.NOTIFY_ON) as DeficiencyKind[]) },
    timeoutMs: env.POLL_TIMEOUT_MS,
    concurrency: env.POLL_CONCURRENCY,
    clockMaxDiffMs: env.CLOCK_MAX_DIFF_MS,
    clockMaxRttMs: env.CLOCK_MAX_RTT_MS,
    name,
  };
}

export interface PersistedHealth extends AppHealth {
  /** Notifications decided but not yet confirmed by the broker, retried every tick. */
  outbox: Notification[];
}

export interface ServerEvent {
  serverId: string;
  list: string;
  level: number;
  deficiencies: Deficiency[];
  change: PollChange;
}

const QUERY = Buffer.from(JSON.stringify({ op: 'query' }));
const DEFAULT_CLOCK_MAX_RTT_MS = 1000;
const MAX_DETAIL = 1000;

/** Runs tasks with at most `limit` in flight. */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly limit: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  get inFlight(): number {
    return this.active;
  }
}

type QueryResult = { skipped: true; reason: string } | { skipped?: false; outcome: PollOutcome; estimate?: ClockEstimate };

/**
 * The poller's engine, free of Nest: polls servers due with one query each and bounded
 * concurrency, validates answers, corrects clocks, moves servers between lists (pure rules in
 * `escalation.ts`) and turns confirmed deficiencies into availability notifications (pure rules
 * in `app-health.ts`). Emits `server` events when a server changes list or deficiencies.
 */
export class Poller extends EventEmitter {
  readonly records = new Map<string, ServerRecord>();
  private health: PersistedHealth = { ...emptyHealth(), outbox: [] };
  private readonly limiter: Limiter;
  private readonly inFlight = new Map<string, Promise<ServerRecord | undefined>>();
  private flushing?: Promise<void>;

  constructor(
    private readonly ports: PollerPorts,
    private readonly opts: PollerOptions,
  ) {
    super();
    this.limiter = new Limiter(opts.concurrency);
  }

  /** Restores what a previous run left in the store. */
  load(records: ServerRecord[], health?: PersistedHealth): void {
    for (const r of records) this.records.set(r.id, r);
    if (health) this.health = { pairs: health.pairs ?? {}, published: health.published ?? {}, outbox: health.outbox ?? [] };
  }

  /** Adds servers not known yet (due at once); returns the ids added. */
  addServers(ids: Iterable<string>): string[] {
    const added: string[] = [];
    for (const id of ids) {
      if (this.records.has(id)) continue;
      this.records.set(id, newServerRecord(id, this.ports.now()));
      added.push(id);
    }
    return added;
  }

  async removeServer(id: string): Promise<boolean> {
    if (!this.records.delete(id)) return false;
    await this.ports.deleteRecord(id);
    const { health, changes } = forgetServer(this.health, id);
    await this.commitHealth(health, changes);
    return true;
  }

  get appHealth(): Readonly<PersistedHealth> {
    return this.health;
  }

  /** Starts a poll of every server due that is not already being polled; does not wait for them. */
  tick(): number {
    // Ports wait out trouble themselves; anything that still fails is reported, never left unhandled.
    if (this.health.outbox.length) void this.flushOutbox().catch((err: Error) => this.emit('trouble', err));
    if (!this.ports.canRequest()) return 0;
    let started = 0;
    for (const r of dueServers(this.records.values(), this.ports.now())) {
      if (this.inFlight.has(r.id)) continue;
      void this.poll(r.id).catch((err: Error) => this.emit('trouble', err));
      started++;
    }
    return started;
  }

  /** Polls the given servers (default all) now and waits for every answer: one cycle. */
  async cycle(ids: string[] = [...this.records.keys()]): Promise<(ServerRecord | undefined)[]> {
    this.addServers(ids);
    return Promise.all(ids.map((id) => this.poll(id)));
  }

  /** Polls one server (joining a poll already in flight); resolves with its new record. */
  poll(id: string): Promise<ServerRecord | undefined> {
    const running = this.inFlight.get(id);
    if (running) return running;
    const p = this.limiter.run(() => this.pollOne(id)).finally(() => this.inFlight.delete(id));
    this.inFlight.set(id, p);
    return p;
  }

  private async pollOne(id: string): Promise<ServerRecord | undefined> {
    const started = this.ports.now();
    const q = await this.query(id);
    if (q.skipped) return this.records.get(id);
    this.emit('polled', { serverId: id, outcome: q.outcome.ok ? 'ok' : q.outcome.deficiency.kind, ms: this.ports.now() - started, compilation: q.outcome.ok ? q.outcome.compilation : undefined });
    const outcome = q.outcome;
    const clock = outcome.ok && q.estimate ? await this.checkClock(id, q.estimate) : undefined;
    if (outcome.ok && clock?.drift) outcome.deficiencies = [...outcome.deficiencies, clock.drift];
    const prev = this.records.get(id);
    if (!prev) return undefined; // removed while its poll was in flight
    const { record, change } = applyPoll(prev, outcome, this.opts.poll, this.ports.now());
    if (clock) record.clock = clock.record;
    const observations = outcome.ok ? observe(outcome.compilation, this.opts.health) : observeSilence(prev.lastCompilation, outcome.deficiency, this.opts.health);
    const observed = observations ? recordObservations(this.health, id, observations, this.opts.health) : undefined;
    // A change not yet confirmed by enough results is confirmed at the critical pace, whatever the list.
    if (observed && hasPending(observed.health, id)) record.nextPollAt = Math.min(record.nextPollAt, this.ports.now() + this.opts.poll.intervalsMs[1]);
    this.records.set(id, record);
    await this.ports.saveRecord(record);
    if (change.listChanged || change.deficienciesChanged) {
      const event: ServerEvent = { serverId: id, list: listOf(record.level), level: record.level, deficiencies: record.deficiencies, change };
      this.emit('server', event);
    }
    if (observed) {
      const dirty = observed.changes.length > 0 || JSON.stringify(this.health.pairs[id]) !== JSON.stringify(observed.health.pairs[id]);
      await this.commitHealth(observed.health, observed.changes, dirty);
    }
    return record;
  }

  /** One query: an answer that is not a valid compilation is a `bad-reply`, silence is `unresponsive`. */
  private async query(id: string): Promise<QueryResult> {
    const sentAt = this.ports.now();
    let raw: Buffer;
    try {
      raw = await this.ports.request(id, QUERY, this.opts.timeoutMs);
    } catch (err) {
      if (err instanceof BrokerUnavailableError) return { skipped: true, reason: err.message };
      return { outcome: { ok: false, deficiency: { kind: 'unresponsive', applications: [], mandatory: false, detail: (err as Error).message } } };
    }
    const receivedAt = this.ports.now();
    const bad = (detail: string): QueryResult => ({ outcome: { ok: false, deficiency: { kind: 'bad-reply', applications: [], mandatory: false, detail: detail.slice(0, MAX_DETAIL) } } });
    let value: unknown;
    try {
      value = parseJson(raw, 4 * 1024 * 1024);
    } catch (err) {
      return bad(`reply is not JSON: ${(err as Error).message}`);
    }
    // The hand-written check covers the usual answer; class-validator decides (and explains) the rest.
    if (!certainlyValidCompilation(value)) {
      const checked = checkDto(CompilationDto, value);
      if (!checked.value) return bad(`reply is not a valid compilation: ${describeErrors(checked.errors, value)}`);
    }
    // The parsed value itself: the DTO refuses unknown fields and converts nothing.
    const c = value as Compilation;
    if (c.serverId !== id) return bad(`reply names server ${c.serverId}, expected ${id}`);
    const estimate = estimateOffset(sentAt, receivedAt, c.clock.local, c.compiledInMs);
    return { outcome: { ok: true, compilation: c, deficiencies: [...c.deficiencies] }, estimate };
  }

  /**
   * Judges one clock sample (`judgeClock`): a sample too uncertain to tell drift from delay is
   * recorded with the reason and nothing else; a clock beyond CLOCK_MAX_DIFF_MS is set and the
   * poll gets a `clock-drift` deficiency.
   */
  private async checkClock(id: string, estimate: ClockEstimate): Promise<{ record: NonNullable<ServerRecord['clock']>; drift?: Deficiency }> {
    const record: NonNullable<ServerRecord['clock']> = { ...estimate, at: this.ports.now() };
    const verdict = judgeClock(estimate, { maxDiffMs: this.opts.clockMaxDiffMs, maxRttMs: this.opts.clockMaxRttMs ?? DEFAULT_CLOCK_MAX_RTT_MS });
    if (verdict.action === 'uncertain') record.ignored = verdict.reason;
    if (verdict.action !== 'correct') return { record };
    const off = estimate.offsetMs;
    const drift: Deficiency = { kind: 'clock-drift', applications: [], mandatory: false, detail: `clock ${Math.round(Math.abs(off))} ms ${off > 0 ? 'ahead' : 'behind'}` };
    try {
      const reply = await this.setClock(id, verdict.adjustMs);
      record.corrected = verdict.adjustMs;
      drift.detail += reply.clamped ? `; correction limited by the server's CLOCK_MAX_CORRECTION_MS to ${reply.correctionMs} ms` : '; corrected';
    } catch (err) {
      drift.detail += `; set-clock failed: ${(err as Error).message}`;
    }
    return { record, drift: { ...drift, detail: drift.detail.slice(0, MAX_DETAIL) } };
  }

  private async setClock(id: string, adjustMs: number): Promise<SetClockReplyDto> {
    const raw = await this.ports.request(id, Buffer.from(JSON.stringify({ op: 'set-clock', adjustMs: Math.round(adjustMs), by: this.opts.name })), this.opts.timeoutMs);
    const checked = checkDto(SetClockReplyDto, parseJson(raw));
    if (!checked.value) throw new Error(`unexpected set-clock reply: ${raw.toString('utf8').slice(0, 200)}`);
    return checked.value;
  }

  /**
   * Adopts a new health state; writes it when it differs (`dirty`) or brings changes, then
   * publishes what changed. The decided notifications are in the store (outbox) before they are
   * published: a poller that dies before it records the broker's confirm sends them again (same
   * ids) after a restart, instead of forgetting it said "down" and never saying "available".
   */
  private async commitHealth(health: AppHealth, changes: AppChange[], dirty = true): Promise<void> {
    this.health = { ...health, outbox: [...this.health.outbox, ...changes.map((c) => this.notificationFor(c))] };
    if (changes.length || dirty) await this.ports.saveHealth(this.health);
    if (changes.length) await this.flushOutbox();
  }

  private notificationFor(c: AppChange): Notification {
    const component = c.components.join(',').slice(0, 256) || undefined;
    const message = c.available ? `${c.application}: every monitored service is back` : `${c.application} unavailable: ${c.detail}`.slice(0, 1000);
    return parseNotification({
      target: c.application, available: c.available, reason: c.available ? undefined : 'outage', component, message, source: 'monitor', operatorId: this.opts.name,
      timestamp: new Date(this.ports.now()).toISOString(), id: `monitor-${randomUUID()}`, priority: 5,
    });
  }

  /** Publishes the outbox in order; what the broker does not confirm stays for the next tick. */
  flushOutbox(): Promise<void> {
    this.flushing ??= (async () => {
      try {
        while (this.health.outbox.length) {
          const n = this.health.outbox[0];
          try {
            await this.ports.publish(n);
          } catch {
            break;
          }
          this.health = { ...this.health, outbox: this.health.outbox.slice(1) };
          this.emit('notification', n);
        }
        await this.ports.saveHealth(this.health);
      } finally {
        this.flushing = undefined;
      }
    })();
    return this.flushing;
  }
}

/** One readable line per wrong field: missing fields named together, others with their first complaint. */
export function describeErrors(errors: { field: string; message: string }[], value: unknown): string {
  const missing: string[] = [];
  const wrong = new Map<string, string>();
  for (const e of errors) {
    const v = e.field.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), value);
    if (v === undefined && e.field) {
      if (!missing.includes(e.field)) missing.push(e.field);
    } else if (!wrong.has(e.field)) wrong.set(e.field, e.message);
  }
  const parts = [...(missing.length ? [`missing ${missing.join(', ')}`] : []), ...[...wrong].map(([f, m]) => `${f || '(root)'}: ${m}`)];
  return parts.slice(0, 8).join('; ') + (parts.length > 8 ? `; and ${parts.length - 8} more` : '');
}
