/** What `bench:polling` and its host processes say to each other over IPC, and the shape they share. */

export const SERVICES_PER_SERVER = 10;

export const serviceName = (i: number): string => `svc-${String(i).padStart(2, '0')}`;

/** `s0000`, `s0001`, ...: valid server ids (SERVER_ID_PATTERN). */
export const serverId = (i: number): string => `s${String(i).padStart(4, '0')}`;

export type HostCommand = { seq: number } & (
  | { cmd: 'start'; ids: string[]; ns: string; url: string; perConnection: number; ports: number[] }
  | { cmd: 'runner'; mode: 'tcp' | 'memory' | 'remote'; latencyMs?: number }
  | { cmd: 'stats' }
  | { cmd: 'compile-locally'; limit: number }
  | { cmd: 'exit' }
);

export interface HostStats {
  pid: number;
  attendants: number;
  /** Requests answered, by op. */
  query: number;
  check: number;
  setClock: number;
  /** Requests refused as malformed. */
  bad: number;
}
