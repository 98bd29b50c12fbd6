import type { FailoverConfig } from '../failover/failover-config';
import type { ServiceStatus } from './compilation';
import type { ServerLoadMetrics } from './load-sample';

/** What the administrator lists in `ATTENDANT_CONFIG` (JSON or YAML), after validation. */

export type CheckSpec =
  | { kind: 'tcp'; host: string; port: number; timeoutMs?: number }
  | { kind: 'http'; url: string; expectStatus?: number[]; timeoutMs?: number }
  | { kind: 'process'; name: string; minCount?: number }
  | { kind: 'command'; command: string; args?: string[]; timeoutMs?: number }
  | { kind: 'systemd'; unit: string; timeoutMs?: number };

export interface ServiceSpec {
  name: string;
  check: CheckSpec;
  /** Applications this service affects. */
  applications: string[];
  /** A failing mandatory service makes its applications unavailable (through the poller). */
  mandatory: boolean;
  /** How to restart it (e.g. `systemctl restart x`): run after a failed login probe finds it down, within the restart limit. */
  restart?: { command: string; args?: string[]; timeoutMs?: number };
}

export interface ProbeSpec {
  enabled: boolean;
  intervalMs: number;
}

export interface AttendantConfig {
  services: ServiceSpec[];
  /** Default per-check timeout. */
  checkTimeoutMs: number;
  /** Upper bound of one answer, however the checks behave. */
  answerBudgetMs: number;
  /** The local repeater (guarded route of probe A, refresh of probe B); absent = those steps are skipped. */
  repeaterUrl?: string;
  /** Application whose guarded demo route probe A reads (default: the first one listed). */
  probeApplication?: string;
  probes: { login: ProbeSpec; refresh: ProbeSpec };
  /** Where the server's load is read (issue 12). */
  load?: LoadSources;
  /** Thresholds, weights and the rest of load-aware failover; absent: the load is measured and reported, and no zone is given. */
  failover?: FailoverConfig;
}

export interface LoadSources {
  /**
   * The monitored application's own load: `farm` reads a farm app's `GET /v1/health/load` (default:
   * the repeater's, at `repeaterUrl`), `prometheus` reads the three metrics `names` from a scrape.
   */
  server?: { url: string; format: 'farm' | 'prometheus'; names: ServerLoadMetrics };
  /** `host:port` of peers whose reachability counts (e.g. the database, the other servers). */
  peers: string[];
  /** Per read of the server's load or a peer. */
  timeoutMs: number;
  /** Compile (run every check) this often, so the services' state in the load is fresh; 0: only when the poller asks. */
  servicesEveryMs?: number;
}

export interface CheckResult {
  status: ServiceStatus;
  detail: string;
}
