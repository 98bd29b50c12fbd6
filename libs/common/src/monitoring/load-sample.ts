import { readFileSync, readdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { cpus, freemem, totalmem } from 'node:os';

/**
 * The raw measures of a server's load that an attendant samples (issue 12's "performance
 * measure"): the monitored application's own (requests in flight against its limit, its event
 * loop's utilisation, read from its Prometheus /metrics), the system's (CPU, memory, processes)
 * and the reachability of configured peers. The pure parsers are separate from the reads, so the
 * arithmetic is tested without a system to measure.
 */

/** What the monitored application says of itself. */
export interface ServerLoad {
  inFlight: number;
  limit: number;
  /** 0-1. */
  eventLoopUtilization: number;
}

export interface SystemLoad {
  /** Busy share of all CPUs since the previous sample, 0-100. */
  cpuPct: number;
  /** Memory in use (total minus available), 0-100. */
  memPct: number;
  /** Processes running on the server (undefined where /proc is not readable). */
  processes?: number;
}

export interface PeerReachability {
  total: number;
  unreachable: string[];
}

/** The metric names a server's load is read from (the farm's apps export these; another application may name its own). */
export interface ServerLoadMetrics {
  inFlight: string;
  limit: string;
  eventLoopUtilization: string;
}

export const FARM_LOAD_METRICS: ServerLoadMetrics = { inFlight: 'farm_http_in_flight', limit: 'farm_http_in_flight_limit', eventLoopUtilization: 'farm_event_loop_utilization' };

/**
 * The value of a metric in Prometheus' text format: the sum of its samples (one unlabelled
 * sample is the common case), or undefined when the text has none.
 */
export function metricValue(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue; // another metric whose name starts with this one
    const value = Number(rest.slice(rest.lastIndexOf('}') + 1).trim().split(/\s+/)[0]);
    if (Number.isFinite(value)) sum = (sum ?? 0) + value;
  }
  return sum;
}

/** A server's load from its /metrics text; undefined when a metric is missing (not the farm's app, or an older one). */
export function serverLoadFrom(text: string, names: ServerLoadMetrics = FARM_LOAD_METRICS): ServerLoad | undefined {
  const inFlight = metricValue(text, names.inFlight);
  const limit = metricValue(text, names.limit);
  const eventLoopUtilization = metricValue(text, names.eventLoopUtilization);
  if (inFlight === undefined || limit === undefined || eventLoopUtilization === undefined) return undefined;
  return { inFlight, limit, eventLoopUtilization };
}

/** Per-CPU times as os.cpus() gives them, summed: busy and total ms. */
export interface CpuTimes {
  busy: number;
  total: number;
}

export function cpuTimes(list: { times: { user: number; nice: number; sys: number; idle: number; irq: number } }[] = cpus()): CpuTimes {
  let busy = 0;
  let total = 0;
  for (const c of list) {
    const t = c.times;
    busy += t.user + t.nice + t.sys + t.irq;
    total += t.user + t.nice + t.sys + t.irq + t.idle;
  }
  return { busy, total };
}

/** The busy share (0-100) between two readings; 0 when no time passed. */
export function cpuBusyPct(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  if (total <= 0) return 0;
  return Math.min(100, Math.max(0, (100 * (after.busy - before.busy)) / total));
}

/** Memory in use (0-100) from /proc/meminfo's text (MemTotal, MemAvailable); undefined without them. */
export function memPctFromMeminfo(text: string): number | undefined {
  const kb = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) : undefined;
  };
  const total = kb('MemTotal');
  const available = kb('MemAvailable');
  if (!total || available === undefined) return undefined;
  return Math.min(100, Math.max(0, (100 * (total - available)) / total));
}

/** How many entries of a /proc listing are processes (their names are numbers). */
export function countProcesses(names: string[]): number {
  let n = 0;
  for (const name of names) if (/^\d+$/.test(name)) n++;
  return n;
}

/** Samples the system: CPU since the previous call (the first call measures since boot), memory, processes. */
export class SystemSampler {
  private last = cpuTimes();

  sample(): SystemLoad {
    const now = cpuTimes();
    const cpuPct = cpuBusyPct(this.last, now);
    this.last = now;
    let memPct: number | undefined;
    let processes: number | undefined;
    try {
      memPct = memPctFromMeminfo(readFileSync('/proc/meminfo', 'utf8'));
    } catch {
      // Not Linux: os.freemem counts caches as used, which is the best there is.
    }
    try {
      processes = countProcesses(readdirSync('/proc'));
    } catch {
      processes = undefined;
    }
    return { cpuPct, memPct: memPct ?? (100 * (totalmem() - freemem())) / totalmem(), processes };
  }
}

/** Whether something accepts TCP connections at `host:port` within the timeout. */
export function tcpReachable(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Tries every peer (`host:port`) at once; the ones that did not answer in time. */
export async function peerReachability(peers: string[], timeoutMs: number): Promise<PeerReachability> {
  const answers = await Promise.all(peers.map((p) => {
    const i = p.lastIndexOf(':');
    return i > 0 ? tcpReachable(p.slice(0, i), Number(p.slice(i + 1)), timeoutMs) : Promise.resolve(false);
  }));
  return { total: peers.length, unreachable: peers.filter((_, i) => !answers[i]) };
}

/** Reads a server's own load: a farm app's `GET /v1/health/load`, or three metrics of a Prometheus scrape. Throws what went wrong. */
export async function readServerLoad(source: { url: string; format: 'farm' | 'prometheus'; names: ServerLoadMetrics }, timeoutMs: number): Promise<ServerLoad> {
  const res = await fetch(source.url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${source.url} answered ${res.status}`);
  if (source.format === 'prometheus') {
    const load = serverLoadFrom(await res.text(), source.names);
    if (!load) throw new Error(`${source.url} lacks one of ${Object.values(source.names).join(', ')}`);
    return load;
  }
  const body = (await res.json()) as Partial<ServerLoad>;
  const { inFlight, limit, eventLoopUtilization } = body;
  if (typeof inFlight !== 'number' || typeof limit !== 'number' || typeof eventLoopUtilization !== 'number') throw new Error(`${source.url} did not answer {inFlight, limit, eventLoopUtilization}`);
  return { inFlight, limit, eventLoopUtilization };
}
