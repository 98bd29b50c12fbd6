import { ChildProcess, fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostCommand, HostStats } from './polling-protocol';

type Command = HostCommand extends infer C ? (C extends { seq: number } ? Omit<C, 'seq'> : never) : never;

/** One host process of simulated attendants (bench/lib/polling-host.ts), as seen by the bench. */
export class PollingHost {
  private seq = 0;
  private readonly waiting = new Map<number, { resolve: (b: unknown) => void; reject: (e: Error) => void }>();
  readonly proc: ChildProcess;
  exited = false;

  constructor(readonly name: string) {
    this.proc = fork(join(__dirname, 'polling-host.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.proc.on('message', (m: { seq: number; body: unknown }) => {
      const w = this.waiting.get(m.seq);
      if (!w) return;
      this.waiting.delete(m.seq);
      const err = (m.body as { error?: string } | null)?.error;
      if (err !== undefined) w.reject(new Error(`${this.name}: ${err}`));
      else w.resolve(m.body);
    });
    this.proc.once('exit', (code, signal) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${this.name} exited (${code ?? signal})`));
      this.waiting.clear();
    });
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  ask<T>(cmd: Command): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const seq = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(seq, { resolve: resolve as (b: unknown) => void, reject });
      this.proc.send({ ...cmd, seq });
    });
  }

  stats(): Promise<HostStats> {
    return this.ask<HostStats>({ cmd: 'stats' });
  }

  /** Asks the host to close its connections and exit; kills it when it does not within 3 s. */
  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.proc.once('exit', () => r()));
    await Promise.race([this.ask({ cmd: 'exit' }).catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }
}

/** User + system CPU milliseconds of a process so far (from /proc; undefined when unreadable). */
export function cpuMs(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** Accumulates the CPU time of named processes over several measured intervals. */
export class CpuLedger {
  private readonly total: Record<string, number> = {};
  private start: Record<string, number | undefined> = {};
  intervals = 0;
  wallMs = 0;
  private t0 = 0;

  constructor(private readonly pids: Record<string, number | undefined>) {}

  begin(): void {
    this.t0 = performance.now();
    this.start = Object.fromEntries(Object.entries(this.pids).map(([k, p]) => [k, cpuMs(p)]));
  }

  end(): void {
    this.wallMs += performance.now() - this.t0;
    this.intervals++;
    for (const [k, p] of Object.entries(this.pids)) {
      const a = this.start[k];
      const b = cpuMs(p);
      if (a !== undefined && b !== undefined) this.total[k] = (this.total[k] ?? 0) + (b - a);
    }
  }

  /** CPU ms per interval of each process, and its share of one core over the intervals' wall time. */
  summary(): { per_interval_ms: Record<string, number>; pct_of_core: Record<string, number> } {
    const perInterval: Record<string, number> = {};
    const pct: Record<string, number> = {};
    for (const [k, v] of Object.entries(this.total)) {
      perInterval[k] = Math.round(v / Math.max(1, this.intervals));
      pct[k] = Math.round((v / Math.max(1, this.wallMs)) * 100);
    }
    return { per_interval_ms: perInterval, pct_of_core: pct };
  }
}

/** The services process (bench/lib/polling-services.ts): resolves with it and its ten ports. */
export function startServices(): Promise<{ proc: ChildProcess; ports: number[] }> {
  const proc = fork(join(__dirname, 'polling-services.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the services process did not listen within 10 s')), 10_000);
    proc.once('exit', (code) => reject(new Error(`the services process exited (${code})`)));
    proc.once('message', (m: { ports: number[] }) => {
      clearTimeout(timer);
      resolve({ proc, ports: m.ports });
    });
  });
}
