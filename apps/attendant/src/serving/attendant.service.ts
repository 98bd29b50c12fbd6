import { hostname } from 'node:os';
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, Optional } from '@nestjs/common';
import Redis from 'ioredis';
import {
  ATTENDANT_COMMAND, AMQP_CLIENT, AmqpClient, COMMAND_VERIFIER, CommandVerifier, AttendantConfig, AttendantEnv, AttendantRequestDto, Compilation, Compiler, MetricsService, REDIS, SetClockReply,
  ServiceReport, checkDto, mailboxQueue, monitoringKeys, parseJson, topology,
} from '@farm/common';
import { LoadService } from '../load/load.service';
import { RestartService } from '../probes/restart.service';
import { ProbeService } from '../probes/probe.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from '../tokens';
import { ClockService } from './clock.service';

/**
 * Answers the poller's one query on `<ns>.attendant.<serverId>` with the whole compilation
 * (through QueriesConsumer), applies set-clock commands, and keeps this server registered in
 * Redis so the poller finds it.
 */
@Injectable()
export class AttendantService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Attendant');
  private readonly compiler: Compiler;
  private readonly queue: string;
  private registerTimer?: NodeJS.Timeout;
  private readonly registeredAt = new Date().toISOString();
  /** The services as the last compilation found them (the load's service component). */
  private lastServices: ServiceReport[] = [];

  constructor(
    @Inject(ATTENDANT_ENV) private readonly env: AttendantEnv,
    @Inject(ATTENDANT_CONFIG) config: AttendantConfig,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly clock: ClockService,
    probes: ProbeService,
    private readonly load: LoadService,
    private readonly restarts: RestartService,
    private readonly metrics: MetricsService,
    @Optional() @Inject(COMMAND_VERIFIER) private readonly verifier?: CommandVerifier,
  ) {
    this.compiler = new Compiler(env.SERVER_ID, config, clock.clock, () => probes.state);
    load.servicesFrom(() => this.lastServices);
    load.compileWith(() => this.compile());
    this.queue = topology(env.FARM_NAMESPACE).attendantQueue(env.SERVER_ID);
    const mailbox = mailboxQueue(env.FARM_NAMESPACE, env.SERVER_ID);
    amqp.addSetup(async (ch) => {
      await ch.assertQueue(mailbox, { durable: true, arguments: { 'x-max-length': 100 } });
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    void this.amqp.start();
    await this.register();
    this.registerTimer = setInterval(() => void this.register(), this.env.REGISTER_INTERVAL_MS);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.registerTimer);
    await this.amqp.stop();
    this.redis.disconnect();
  }

  async compile(): Promise<Compilation> {
    const end = this.metrics.compileSeconds.startTimer();
    try {
      const c = await this.compiler.compile();
      this.lastServices = c.services;
      return { ...c, ...(this.load.report ? { load: this.load.report } : {}), ...(this.restarts.records.length ? { restarts: [...this.restarts.records] } : {}) };
    } finally {
      end();
    }
  }

  /** One request on the queue; a malformed one gets an error answer, never a crash. */
  /**
   * Answers the poller. Where the farm signs its commands, a query (it reveals the server's state)
   * and a set-clock (it changes it) are answered only when signed for this server; anything else
   * gets `{error}` and changes nothing.
   */
  async answer(body: Buffer, signature?: string): Promise<Buffer> {
    let parsed: unknown;
    try {
      parsed = parseJson(body);
    } catch (err) {
      return reply({ error: (err as Error).message });
    }
    const req = checkDto(AttendantRequestDto, parsed);
    if (!req.value) return reply({ error: 'bad request', errors: req.errors });
    if (this.verifier) {
      const v = await this.verifier.verify(signature, ATTENDANT_COMMAND, parsed);
      if (!v.ok) return reply({ error: `refused (${v.reason}): ${v.message}` });
    }
    this.metrics.attendantRequests.inc({ op: req.value.op });
    if (req.value.op === 'query') return reply(await this.compile());
    if (req.value.adjustMs === undefined) return reply({ error: 'bad request', errors: [{ field: 'adjustMs', message: 'set-clock needs adjustMs' }] });
    const { correctionMs, clamped } = await this.clock.adjust(req.value.adjustMs, req.value.by);
    const answer: SetClockReply = { ok: true, serverId: this.env.SERVER_ID, correctionMs, clamped, clock: this.clock.clock.reading() };
    return reply(answer);
  }

  private async register(): Promise<void> {
    const key = monitoringKeys(this.env.FARM_NAMESPACE).attendants;
    const entry = { serverId: this.env.SERVER_ID, queue: this.queue, host: hostname(), httpPort: this.env.HTTP_PORT, pid: process.pid, registeredAt: this.registeredAt, lastSeenAt: new Date().toISOString() };
    try {
      await this.redis.hset(key, this.env.SERVER_ID, JSON.stringify(entry));
    } catch (err) {
      this.log.warn(`could not register in Redis: ${(err as Error).message}`);
    }
  }
}

function reply(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value));
}
