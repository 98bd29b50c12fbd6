import { performance } from 'node:perf_hooks';
import type { AttendantConfig, CheckResult, CheckSpec } from './attendant-config.types';
import { processScanner, runCheck } from './checks';
import { Compilation, ProbeReport, ServiceReport, deficienciesOf } from './compilation';
import type { FarmClock } from './clock';

export interface ProbeState {
  loggedIn: boolean;
  login: ProbeReport | null;
  refresh: ProbeReport | null;
}

export type CheckRunner = (spec: CheckSpec, timeoutMs: number, ctx: { countProcesses: (name: string) => Promise<number> }) => Promise<CheckResult>;

const OVER_BUDGET: unique symbol = Symbol('over budget');

/**
 * Compiles the attendant's one answer: every configured check at query time, in parallel, each
 * with its timeout, all under one answer budget (a check still running when the budget ends is
 * reported `unknown`), plus the last probe reports, the login state and the clock, read last so
 * the poller can compensate the round trip.
 */
export class Compiler {
  constructor(
    private readonly serverId: string,
    private readonly config: AttendantConfig,
    private readonly clock: FarmClock,
    private readonly probes: () => ProbeState,
    private readonly run: CheckRunner = runCheck,
  ) {}

  async compile(): Promise<Compilation> {
    const started = performance.now();
    const { services, checkTimeoutMs, answerBudgetMs } = this.config;
    let budgetTimer: NodeJS.Timeout | undefined;
    const budget = new Promise<typeof OVER_BUDGET>((resolve) => {
      budgetTimer = setTimeout(() => resolve(OVER_BUDGET), answerBudgetMs);
    });
    const ctx = { countProcesses: processScanner() };
    try {
      const reports = await Promise.all(
        services.map(async (s): Promise<ServiceReport> => {
          const t0 = performance.now();
          const result = await Promise.race([this.run(s.check, checkTimeoutMs, ctx).catch((err: Error) => ({ status: 'unknown' as const, detail: `check failed: ${err.message}` })), budget]);
          const r: CheckResult = result === OVER_BUDGET ? { status: 'unknown', detail: `no result within the answer budget of ${answerBudgetMs} ms` } : result;
          return { name: s.name, kind: s.check.kind, status: r.status, detail: r.detail, mandatory: s.mandatory, applications: s.applications, durationMs: round(performance.now() - t0) };
        }),
      );
      const p = this.probes();
      const probes = { login: p.login, refresh: p.refresh };
      return {
        serverId: this.serverId,
        version: 1,
        services: reports,
        probes,
        loggedIn: p.loggedIn,
        deficiencies: deficienciesOf(reports, probes),
        compiledInMs: round(performance.now() - started),
        clock: this.clock.reading(),
      };
    } finally {
      clearTimeout(budgetTimer);
    }
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
