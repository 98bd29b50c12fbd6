import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import Redis from 'ioredis';
import {
  AttendantConfig, AttendantEnv, ComponentValues, MetricsService, DEFAULT_LOAD_TIMEOUT_MS, FARM_LOAD_METRICS, PublishedLoad, REDIS, monitoringKeys, DEFAULT_WEIGHTS, FAILOVER_DEFAULTS, LoadReport, LoadSample, RateLimitedLog, ScoreSettings, ServiceReport, SystemSampler, Zone,
  nextZones, peerReachability, readServerLoad, stepLoad, zoneKey,
} from '@farm/common';
import { ClockService } from '../serving/clock.service';
import { ATTENDANT_CONFIG, ATTENDANT_ENV } from '../tokens';

/**
 * The server's load (issue 12), sampled every LOAD_INTERVAL_MS: the monitored application's own
 * (requests in flight against its limit, event-loop utilisation), the system's (CPU, memory,
 * processes), the configured peers' reachability, and the services as the last compilation
 * found them (a mandatory one down forces the worst score). Smoothed into one score; with
 * failover thresholds configured, also the zone (with hysteresis). Published in every
 * compilation and on `GET /v1/load`.
 */
@Injectable()
export class LoadService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('Load');
  private readonly trouble = new RateLimitedLog(60_000);
  private readonly system = new SystemSampler();
  private readonly score: ScoreSettings;
  private readonly smoothing: number;
  private timer?: NodeJS.Timeout;
  private compileTimer?: NodeJS.Timeout;
  private sampling = false;
  private state: ComponentValues = {};
  private zones: Record<string, Zone> = {};
  private services: () => ServiceReport[] = () => [];
  private readonly listeners: ((report: LoadReport) => void | Promise<void>)[] = [];
  /** The clients deferred now (set by the failover service). */
  private deferred: () => string[] | undefined = () => undefined;
  /** The last sample (undefined until the first one). */
  report?: LoadReport;

  /** The zone of every track (each group, new and returning clients; `*` is no group), after the last sample. */
  get zonesNow(): Readonly<Record<string, Zone>> {
    return this.zones;
  }

  constructor(
    @Inject(ATTENDANT_ENV) private readonly env: AttendantEnv,
    @Inject(ATTENDANT_CONFIG) private readonly config: AttendantConfig,
    private readonly clock: ClockService,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly metrics: MetricsService,
  ) {
    const d = FAILOVER_DEFAULTS;
    this.score = config.failover?.score ?? { weights: { ...DEFAULT_WEIGHTS }, maxProcesses: d.maxProcesses, dependentDownScore: d.dependentDownScore };
    this.smoothing = config.failover?.smoothing ?? d.smoothing;
  }

  /** Where the list of deferred clients comes from (the failover service). */
  deferredFrom(fn: () => string[] | undefined): void {
    this.deferred = fn;
  }

  /** Called after every sample (the failover service acts on the zone). */
  onSample(fn: (report: LoadReport) => void | Promise<void>): void {
    this.listeners.push(fn);
  }

  /** Where the services' state comes from (the attendant's last compilation). */
  servicesFrom(fn: () => ServiceReport[]): void {
    this.services = fn;
  }

  /** How to compile afresh (every `load.servicesEveryMs`, so a service going down moves the score without waiting for the poller). */
  compileWith(fn: () => Promise<unknown>): void {
    const every = this.config.load?.servicesEveryMs ?? 0;
    if (every <= 0) return;
    this.compileTimer = setInterval(() => void fn().catch(() => undefined), every);
    this.compileTimer.unref();
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.sample();
    this.timer = setInterval(() => void this.sample(), this.env.LOAD_INTERVAL_MS);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
    clearInterval(this.compileTimer);
  }

  /** Takes one sample now (a sample still running is not doubled). */
  async sample(): Promise<LoadReport | undefined> {
    if (this.sampling) return this.report;
    this.sampling = true;
    try {
      const { sample, unmeasured } = await this.measure();
      const step = stepLoad(this.state, sample, this.smoothing, this.score);
      this.state = step.state;
      this.metrics.loadScore.set(round(step.load.score));
      const f = this.config.failover;
      const prevZone = this.zones[zoneKey(undefined, false)];
      if (f) this.zones = nextZones(this.zones, step.load.score, f.zones);
      const zone = f ? this.zones[zoneKey(undefined, false)] : undefined;
      if (zone && prevZone && zone !== prevZone) this.log.warn(`load ${step.load.score.toFixed(1)}: zone ${prevZone} -> ${zone}${step.load.forcedBy ? ` (${step.load.forcedBy})` : ''}`);
      this.report = {
        at: this.clock.clock.stamp(),
        score: round(step.load.score),
        ...(zone ? { zone, arrangement: f?.arrangement } : {}),
        ...(f && Object.keys(f.zones.groups).length > 0 ? { zones: { ...this.zones } } : {}),
        components: step.load.components.map((c) => ({ name: c.name, value: round(c.value, 4), weight: c.weight, points: round(c.points) })),
        mandatoryDown: step.load.mandatoryDown,
        dependentDown: step.load.dependentDown,
        ...(step.load.forcedBy ? { forcedBy: step.load.forcedBy } : {}),
        unmeasured,
      };
      // Readers never see a report without the deferred list, even while the listeners act.
      const before = this.deferred();
      if (before) this.report = { ...this.report, deferred: before };
      if (zone) this.publish(step.load.score, zone);
      for (const l of this.listeners) await l(this.report);
      const deferred = this.deferred();
      if (deferred) this.report = { ...this.report, deferred };
      return this.report;
    } finally {
      this.sampling = false;
    }
  }

  /**
   * Tells the farm this server's score and zone (what routing and alternates are chosen from).
   * Best effort: a Redis that is away misses a sample, and readers ignore reports grown old.
   */
  private publish(score: number, zone: Zone): void {
    const groups = this.config.failover && Object.keys(this.config.failover.zones.groups).length > 0;
    const report: PublishedLoad = { id: this.env.SERVER_ID, address: this.repeaterUrl ?? '', score: round(score), zone, at: this.clock.clock.now(), ...(groups ? { zones: { ...this.zones } } : {}) };
    this.redis.hset(monitoringKeys(this.env.FARM_NAMESPACE).load, this.env.SERVER_ID, JSON.stringify(report)).catch(() => undefined);
  }

  /** The repeater this attendant watches (REPEATER_URL, else the config's repeaterUrl). */
  get repeaterUrl(): string | undefined {
    return (this.env.REPEATER_URL ?? this.config.repeaterUrl)?.replace(/\/+$/, '');
  }

  private async measure(): Promise<{ sample: LoadSample; unmeasured: { source: string; detail: string }[] }> {
    const configured = this.config.load ?? { peers: [], timeoutMs: DEFAULT_LOAD_TIMEOUT_MS };
    // Without a source of its own, the server's load is its repeater's (REPEATER_URL counts too).
    const src = configured.server || !this.repeaterUrl ? configured : { ...configured, server: { url: `${this.repeaterUrl}/v1/health/load`, format: 'farm' as const, names: FARM_LOAD_METRICS } };
    const unmeasured: { source: string; detail: string }[] = [];
    const [server, peers] = await Promise.all([
      src.server
        ? readServerLoad(src.server, src.timeoutMs).catch((err: Error) => {
          unmeasured.push({ source: 'server', detail: err.message.slice(0, 500) });
          const line = this.trouble.next(`cannot read the server's load: ${err.message}`);
          if (line) this.log.warn(line);
          return undefined;
        })
        : undefined,
      src.peers.length > 0 ? peerReachability(src.peers, src.timeoutMs) : undefined,
    ]);
    if (peers && peers.unreachable.length > 0) unmeasured.push({ source: 'peers', detail: `unreachable: ${peers.unreachable.join(', ')}`.slice(0, 500) });
    const sys = this.system.sample();
    const services = this.services();
    const down = (mandatory: boolean) => services.filter((s) => s.mandatory === mandatory && s.status === 'critical').map((s) => s.name);
    return {
      sample: {
        busyWorkers: server?.inFlight,
        maxWorkers: server?.limit,
        eventLoopUtilization: server?.eventLoopUtilization,
        cpuPercent: sys.cpuPct,
        memoryPercent: sys.memPct,
        processCount: sys.processes,
        ...(peers ? { peersReachable: peers.total - peers.unreachable.length, peersConfigured: peers.total } : {}),
        mandatoryDown: down(true),
        dependentDown: down(false),
      },
      unmeasured,
    };
  }
}

function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
