import { Inject, Injectable, Logger } from '@nestjs/common';
import { AttendantConfig, FAILOVER_DEFAULTS, RestartLimit, RestartRecord, RestartState, ServiceSpec, decideRestart, freshRestarts, runCheck } from '@farm/common';
import { ClockService } from '../serving/clock.service';
import { ATTENDANT_CONFIG } from '../tokens';

/** Restart records kept for the compilation. */
const KEPT = 20;

/**
 * Self-healing (issue 12, after the login procedure of the attendant's design): after a failed
 * login probe, the services that have a `restart` command and check critical are restarted, each
 * at most `failover.restarts.max` times in `failover.restarts.windowMs` (then the attendant stops
 * trying for that service and says so once, as Monit does), and checked again. Every restart and
 * its outcome goes into the compilation, so the poller sees it (and raises it on its feed).
 */
@Injectable()
export class RestartService {
  private readonly log = new Logger('Restarts');
  private readonly limit: RestartLimit;
  private readonly states = new Map<string, RestartState>();
  private running = false;
  readonly records: RestartRecord[] = [];

  constructor(
    @Inject(ATTENDANT_CONFIG) private readonly config: AttendantConfig,
    private readonly clock: ClockService,
  ) {
    this.limit = config.failover?.restarts ?? FAILOVER_DEFAULTS.restarts;
  }

  /** Whether any service can be restarted at all. */
  get enabled(): boolean {
    return this.config.services.some((s) => s.restart);
  }

  /** Called after a failed login probe: restarts what is down, within the limit. */
  async afterFailedProbe(): Promise<void> {
    if (!this.enabled || this.running) return;
    this.running = true;
    try {
      for (const s of this.config.services) {
        if (!s.restart) continue;
        const before = await runCheck(s.check, this.config.checkTimeoutMs);
        if (before.status !== 'critical') continue;
        await this.restart(s, before.detail);
      }
    } finally {
      this.running = false;
    }
  }

  private async restart(s: ServiceSpec, why: string): Promise<void> {
    const restart = s.restart as NonNullable<ServiceSpec['restart']>;
    const d = decideRestart(this.states.get(s.name) ?? freshRestarts(), this.clock.clock.now(), this.limit, s.name);
    this.states.set(s.name, d.state);
    if (!d.allowed) {
      if (d.announce) {
        this.log.warn(d.message);
        this.record(s.name, 'stopped', d.message);
      }
      return;
    }
    const ran = await runCheck({ kind: 'command', command: restart.command, args: restart.args, timeoutMs: restart.timeoutMs ?? 30_000 }, 30_000);
    const after = await runCheck(s.check, this.config.checkTimeoutMs);
    const ok = ran.status === 'ok' && after.status === 'ok';
    const detail = `${d.message}; it was down (${why}); the restart command ${ran.status === 'ok' ? 'succeeded' : `failed (${ran.detail})`}; now ${after.status}${after.status === 'ok' ? '' : ` (${after.detail})`}`;
    this.record(s.name, ok ? 'restarted' : 'failed', detail);
    if (ok) this.log.log(detail);
    else this.log.warn(detail);
  }

  private record(service: string, outcome: RestartRecord['outcome'], detail: string): void {
    this.records.push({ at: this.clock.clock.stamp(), service, outcome, detail: detail.slice(0, 1000) });
    if (this.records.length > KEPT) this.records.splice(0, this.records.length - KEPT);
  }
}
