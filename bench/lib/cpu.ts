import { readFileSync, readdirSync } from 'node:fs';
import { round } from './util';

/** User + system CPU seconds of a process, from /proc/<pid>/stat (undefined when unreadable). */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

function machineTicks(): { idle: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: f[3] + f[4], total: f.reduce((a, b) => a + b, 0) };
}

/** Pid of the oldest local process with this command name (e.g. the broker), if any. */
export function findProcess(comm: string): number | undefined {
  let found: number | undefined;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm && (found === undefined || Number(d) < found)) found = Number(d);
    } catch {
      /* gone meanwhile */
    }
  }
  return found;
}

export interface CpuUsage {
  seconds: number;
  /** Percent of one core per process over the interval. */
  by_process: Record<string, number>;
  /** Percent of the whole machine that was busy (all processes, everyone's). */
  machine_busy_pct: number;
}

/** Measures CPU use of named processes (and of the whole machine) between start and stop. */
export class CpuMeter {
  private t0 = 0;
  private c0: Record<string, number | undefined> = {};
  private m0 = { idle: 0, total: 0 };

  constructor(private readonly pids: Record<string, number | undefined>) {}

  static available(): boolean {
    try {
      readFileSync('/proc/stat');
      return true;
    } catch {
      return false;
    }
  }

  start(): this {
    this.t0 = performance.now();
    this.m0 = machineTicks();
    this.c0 = Object.fromEntries(Object.entries(this.pids).map(([k, p]) => [k, p === undefined ? undefined : cpuSeconds(p)]));
    return this;
  }

  stop(): CpuUsage {
    const seconds = (performance.now() - this.t0) / 1000;
    const m1 = machineTicks();
    const byProcess: Record<string, number> = {};
    for (const [k, p] of Object.entries(this.pids)) {
      const a = this.c0[k];
      const b = p === undefined ? undefined : cpuSeconds(p);
      if (a !== undefined && b !== undefined) byProcess[k] = round(((b - a) / seconds) * 100, 0);
    }
    const busy = 1 - (m1.idle - this.m0.idle) / Math.max(1, m1.total - this.m0.total);
    return { seconds: round(seconds, 1), by_process: byProcess, machine_busy_pct: round(busy * 100, 0) };
  }
}
