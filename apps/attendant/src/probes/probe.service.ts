import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import * as amqp from 'amqplib';
import { AMQP_CLIENT, AmqpClient, AttendantConfig, AttendantEnv, COMMAND_SIGNER, CommandSigner, NODE_SYNC, ProbeReport, ProbeState, mailboxQueue } from '@farm/common';
import { ClockService } from '../serving/clock.service';
import { RestartService } from './restart.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from '../tokens';

const STEP_TIMEOUT_MS = 5000;
const REFRESH_TIMEOUT_MS = 30_000;

/**
 * The synthetic user. Probe A (every `probes.login.intervalMs`): log in to the mailbox with the
 * probe's own credentials, ask whether a new message has arrived, read it, and read the local
 * repeater's guarded route. On failure it reports, logs off, and logs in again next time.
 * Probe B (every `probes.refresh.intervalMs`, only while logged in): the repeater's refresh,
 * `POST /v1/sync`.
 */
@Injectable()
export class ProbeService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Probes');
  private readonly mailbox: string;
  private readonly repeaterUrl?: string;
  private readonly probeUrl: string;
  private conn?: amqp.ChannelModel;
  private ch?: amqp.Channel;
  private timers: NodeJS.Timeout[] = [];
  private running = { login: false, refresh: false };
  private stopped = false;
  readonly state: ProbeState = { loggedIn: false, login: null, refresh: null };

  constructor(
    @Inject(ATTENDANT_ENV) private readonly env: AttendantEnv,
    @Inject(ATTENDANT_CONFIG) private readonly config: AttendantConfig,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    private readonly clock: ClockService,
    @Optional() @Inject(COMMAND_SIGNER) private readonly signer?: CommandSigner,
    @Optional() private readonly restarts?: RestartService,
  ) {
    this.mailbox = mailboxQueue(env.FARM_NAMESPACE, env.SERVER_ID);
    this.repeaterUrl = (env.REPEATER_URL ?? config.repeaterUrl)?.replace(/\/+$/, '');
    this.probeUrl = env.PROBE_RABBITMQ_URL ?? env.RABBITMQ_URL;
  }

  onApplicationBootstrap(): void {
    const { login, refresh } = this.config.probes;
    if (login.enabled) {
      // The first run waits for the attendant's own broker link, which delivers the probe's message.
      void this.untilConnected().then(() => this.runLogin());
      this.timers.push(setInterval(() => void this.runLogin(), login.intervalMs));
    }
    if (refresh.enabled && this.repeaterUrl) this.timers.push(setInterval(() => void this.runRefresh(), refresh.intervalMs));
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.logOff();
  }

  /** Resolves once the attendant's own AMQP connection is up (at once if it is). */
  private untilConnected(): Promise<void> {
    if (this.amqp.connected) return Promise.resolve();
    return new Promise((resolve) => this.amqp.once('connected', () => resolve()));
  }

  /** Probe A once; also what `POST /v1/probes/login` runs. */
  async runLogin(): Promise<ProbeReport | null> {
    if (this.running.login || this.stopped) return this.state.login;
    this.running.login = true;
    const t0 = performance.now();
    const steps: string[] = [];
    try {
      if (!this.ch) {
        await this.logIn();
        steps.push('logged in');
      }
      const ch = this.ch as amqp.Channel;
      const nonce = randomUUID();
      // The server's mail system delivers a message to the user's mailbox...
      await withTimeout(this.amqp.publish('', this.mailbox, Buffer.from(JSON.stringify({ probe: nonce, at: this.clock.clock.stamp() })), { messageId: nonce, persistent: false }), 'delivering the message');
      // ...and the user's client asks whether something new arrived, then reads it.
      const { messageCount } = await withTimeout(ch.checkQueue(this.mailbox), 'checking the mailbox');
      if (messageCount < 1) throw new Error('no new message arrived in the mailbox');
      steps.push(`${messageCount} new`);
      await this.readUntil(ch, nonce);
      steps.push('message read');
      if (this.repeaterUrl) steps.push(await this.readGuardedRoute());
      return this.report('login', true, t0, steps.join(', '));
    } catch (err) {
      await this.logOff();
      // The log-off/log-in sequence restarts what it finds down (within the limit) before the next try.
      void this.restarts?.afterFailedProbe().catch((e: Error) => this.log.warn(`restarting services failed: ${e.message}`));
      return this.report('login', false, t0, `${steps.length ? `${steps.join(', ')}; then ` : ''}${reason(err)}; logged off`);
    } finally {
      this.running.login = false;
    }
  }

  /** Probe B once: the repeater's refresh facility, only while logged in. */
  async runRefresh(): Promise<ProbeReport | null> {
    if (!this.repeaterUrl || this.running.refresh || !this.state.loggedIn || this.stopped) return this.state.refresh;
    this.running.refresh = true;
    const t0 = performance.now();
    try {
      const headers = await this.syncHeaders(this.repeaterUrl);
      const res = await fetch(`${this.repeaterUrl}/v1/sync`, { method: 'POST', headers, signal: AbortSignal.timeout(REFRESH_TIMEOUT_MS) });
      await res.arrayBuffer();
      return this.report('refresh', res.ok, t0, res.ok ? `POST /v1/sync answered ${res.status}` : `POST /v1/sync answered ${res.status}`);
    } catch (err) {
      return this.report('refresh', false, t0, `POST /v1/sync failed: ${describe(err)}`);
    } finally {
      this.running.refresh = false;
    }
  }

  private async logIn(): Promise<void> {
    const conn = await withTimeout(amqp.connect(this.probeUrl, { clientProperties: { connection_name: `attendant ${this.env.SERVER_ID} login probe` } }), 'logging in');
    conn.on('error', () => undefined);
    conn.on('close', () => {
      if (this.conn === conn) this.dropSession();
    });
    let ch: amqp.Channel;
    try {
      ch = await withTimeout(conn.createChannel(), 'opening a channel');
    } catch (err) {
      await conn.close().catch(() => undefined);
      throw err;
    }
    ch.on('error', () => undefined);
    ch.on('close', () => {
      if (this.ch === ch) this.dropSession();
    });
    this.conn = conn;
    this.ch = ch;
    this.state.loggedIn = true;
  }

  private dropSession(): void {
    this.ch = undefined;
    this.conn = undefined;
    this.state.loggedIn = false;
  }

  private async logOff(): Promise<void> {
    const conn = this.conn;
    this.dropSession();
    await conn?.close().catch(() => undefined);
  }

  /** Reads the mailbox until the probe's own message, discarding older ones. */
  private async readUntil(ch: amqp.Channel, nonce: string): Promise<void> {
    for (let i = 0; i < 100; i++) {
      const msg = await withTimeout(ch.get(this.mailbox, { noAck: true }), 'reading the mailbox');
      if (msg === false) break;
      if (msg.properties.messageId === nonce) return;
    }
    throw new Error('the new message could not be read');
  }

  /**
   * The signature of a sync command for the repeater at `url`, signed for the node id its open
   * health report gives (else this server's id, which a node also answers to); none where the
   * farm does not sign its commands.
   */
  private async syncHeaders(url: string): Promise<Record<string, string>> {
    if (!this.signer) return {};
    let nodeId: unknown;
    try {
      const res = await fetch(`${url}/v1/health`, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
      nodeId = ((await res.json()) as { nodeId?: unknown }).nodeId;
    } catch {
      // The sync itself will say what is wrong with the repeater.
    }
    return this.signer.httpHeaders(typeof nodeId === 'string' ? nodeId : this.env.SERVER_ID, NODE_SYNC, {});
  }

  private async readGuardedRoute(): Promise<string> {
    const app = this.config.probeApplication ?? this.config.services.flatMap((s) => s.applications)[0] ?? 'probe';
    const url = `${this.repeaterUrl}/apps/${encodeURIComponent(app)}/probe`;
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(STEP_TIMEOUT_MS) });
    } catch (err) {
      throw new Error(`guarded route ${url} failed: ${describe(err)}`, { cause: err });
    }
    const body = (await res.json().catch(() => null)) as { available?: unknown; reason?: string } | null;
    if (res.status === 200) return `guarded route of ${app} answered 200`;
    if (res.status === 503 && body && body.available === false) return `guarded route of ${app} answered 503 (${body.reason ?? 'unavailable'}), as the farm says`;
    throw new Error(`guarded route ${url} answered ${res.status}`);
  }

  private report(which: 'login' | 'refresh', ok: boolean, t0: number, detail: string): ProbeReport {
    const r: ProbeReport = { ok, at: this.clock.clock.reading().local, durationMs: Math.round(performance.now() - t0), detail: detail.slice(0, 1000) };
    const before = this.state[which];
    this.state[which] = r;
    if (!ok || (before && !before.ok)) this.log[ok ? 'log' : 'warn'](`${which} probe ${ok ? 'ok' : 'failed'}: ${r.detail}`);
    return r;
  }
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/**
 * What went wrong, readable: for an operation the broker refused (a `get` without read
 * permission), its reply code and text, e.g. `403 ACCESS_REFUSED - access to queue ... refused`.
 * amqplib 2 reports that as an Error with the code and `... with message "<text>"`; older
 * versions rejected with the channel-close frame itself.
 */
function reason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as Error & { code?: unknown }).code;
    const text = /with message "(.*)"$/s.exec(err.message)?.[1];
    return typeof code === 'number' && text !== undefined ? `${code} ${text}` : err.message;
  }
  const fields = (err as { fields?: { replyCode?: unknown; replyText?: unknown } } | null)?.fields;
  if (typeof fields?.replyText === 'string') return `${typeof fields.replyCode === 'number' ? `${fields.replyCode} ` : ''}${fields.replyText}`;
  return String(err);
}

/** One step of a probe: its failure names the step and the reason; it fails after `ms` if nothing answers. */
function withTimeout<T>(p: Promise<T>, what: string, ms = STEP_TIMEOUT_MS): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.catch((err: unknown) => {
      throw new Error(`${what} failed: ${reason(err)}`);
    }),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
