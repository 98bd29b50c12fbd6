import type { ServiceStatus } from './compilation';

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
}

export interface CheckResult {
  status: ServiceStatus;
  detail: string;
}
