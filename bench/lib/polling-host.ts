/**
 * A host of simulated attendants for `bench:polling`, driven by its parent over IPC. Each
 * simulated attendant is the attendant app's own `Compiler` (same class, same checks) with ten
 * services whose checks are real `tcp` checks against the ports of the services process, served by
 * a bare reply-to server (`serve-rpc.ts`: the farm's Subscription, without the Nest dispatch the
 * attendant app adds) on the attendant's queue, declared as the attendant app declares it. It
 * answers `{op:'query'}` with the compilation (what the attendant app answers) and, for the
 * baseline, `{op:'check', service}` with the report of that one service: one query per service.
 */
import { performance } from 'node:perf_hooks';
import { topology } from '../../libs/common/src/contracts/topology';
import { checkDto, parseJson } from '../../libs/common/src/contracts/validation';
import { AmqpClient } from '../../libs/common/src/messaging/amqp-client';
import { serveRpc } from './serve-rpc';
import { Subscription } from '../../libs/common/src/messaging/subscription';
import type { AttendantConfig, CheckResult, CheckSpec } from '../../libs/common/src/monitoring/attendant-config.types';
import { processScanner, runCheck } from '../../libs/common/src/monitoring/checks';
import { FarmClock } from '../../libs/common/src/monitoring/clock';
import { AttendantRequestDto, ServiceReport, SetClockReply } from '../../libs/common/src/monitoring/compilation';
import { CheckRunner, Compiler, ProbeState } from '../../libs/common/src/monitoring/compiler';
import { Limiter } from '../../libs/common/src/monitoring/poller';
import { HostCommand, HostStats, SERVICES_PER_SERVER, serviceName } from './polling-protocol';

/** As the attendant app consumes its queue (its `attendant.requests` route). */
const RPC_PREFETCH = 16;
const quiet = { log: () => undefined, warn: (m: string) => console.warn(`[polling-host ${process.pid}] ${m}`), error: (m: string) => console.error(`[polling-host ${process.pid}] ${m}`) };
const noProbes: ProbeState = { loggedIn: false, login: null, refresh: null };

const clients: AmqpClient[] = [];
const attendants = new Map<string, { compiler: Compiler; clock: FarmClock; sub: Subscription; config: AttendantConfig }>();
const stats: HostStats = { attendants: 0, query: 0, check: 0, setClock: 0, bad: 0, pid: process.pid };

const memoryRunner: CheckRunner = async () => ({ status: 'ok', detail: 'in-memory check' });
/** A check whose time goes waiting on a service elsewhere (no CPU here), as a real server's checks are to the poller. */
const remoteRunner = (latencyMs: number): CheckRunner => () => new Promise((resolve) => setTimeout(() => resolve({ status: 'ok', detail: `remote check, ${latencyMs} ms` }), latencyMs));
let current: CheckRunner = runCheck;
/** What every simulated attendant's Compiler runs its checks with: real tcp checks unless switched. */
const runner: CheckRunner = (spec, timeoutMs, ctx) => current(spec, timeoutMs, ctx);

/** Ten services, each a tcp check of its own port of the services process (bench/lib/polling-services.ts). */
function configFor(ports: number[]): AttendantConfig {
  return {
    services: Array.from({ length: SERVICES_PER_SERVER }, (_, i) => ({ name: serviceName(i), check: { kind: 'tcp', host: '127.0.0.1', port: ports[i] } as CheckSpec, applications: [`bench-app-${i}`], mandatory: true })),
    checkTimeoutMs: 2000,
    answerBudgetMs: 2500,
    probes: { login: { enabled: false, intervalMs: 60_000 }, refresh: { enabled: false, intervalMs: 300_000 } },
  };
}

const reply = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

/** One request on a simulated attendant's queue: as the attendant app answers, plus `check`. */
async function answer(serverId: string, body: Buffer): Promise<Buffer> {
  const a = attendants.get(serverId);
  if (!a) return reply({ error: `no attendant ${serverId}` });
  let parsed: unknown;
  try {
    parsed = parseJson(body);
  } catch (err) {
    stats.bad++;
    return reply({ error: (err as Error).message });
  }
  const op = (parsed as { op?: unknown } | null)?.op;
  if (op === 'check') {
    // The baseline's request: one service, run now, its report alone.
    const name = (parsed as { service?: unknown }).service;
    const s = a.config.services.find((x) => x.name === name);
    if (!s || Object.keys(parsed as object).length !== 2) {
      stats.bad++;
      return reply({ error: 'bad request' });
    }
    stats.check++;
    const t0 = performance.now();
    const r: CheckResult = await runner(s.check, a.config.checkTimeoutMs, { countProcesses: processScanner() }).catch((err: Error) => ({ status: 'unknown' as const, detail: `check failed: ${err.message}` }));
    const report: ServiceReport = { name: s.name, kind: s.check.kind, status: r.status, detail: r.detail, mandatory: s.mandatory, applications: s.applications, durationMs: Math.round((performance.now() - t0) * 100) / 100 };
    return reply({ serverId, service: report });
  }
  // From here on, exactly what the attendant app does with its requests.
  const req = checkDto(AttendantRequestDto, parsed);
  if (!req.value) {
    stats.bad++;
    return reply({ error: 'bad request', errors: req.errors });
  }
  if (req.value.op === 'query') {
    stats.query++;
    return reply(await a.compiler.compile());
  }
  if (req.value.adjustMs === undefined) return reply({ error: 'bad request', errors: [{ field: 'adjustMs', message: 'set-clock needs adjustMs' }] });
  stats.setClock++;
  a.clock.correctionMs = Math.round(a.clock.correctionMs + req.value.adjustMs);
  const ans: SetClockReply = { ok: true, serverId, correctionMs: a.clock.correctionMs, clock: a.clock.reading() };
  return reply(ans);
}

async function client(url: string, index: number): Promise<AmqpClient> {
  while (clients.length <= index) {
    const c = new AmqpClient({ url, name: `bench polling host ${process.pid}/${clients.length}`, logger: quiet });
    clients.push(c);
    await c.start();
  }
  return clients[index];
}

/** Adds simulated attendants and resolves once every one of them consumes its queue. */
async function start(ids: string[], ns: string, url: string, perConnection: number, ports: number[]): Promise<{ attendants: number }> {
  if (ports.length !== SERVICES_PER_SERVER) throw new Error(`${ports.length} service ports, expected ${SERVICES_PER_SERVER}`);
  const t = topology(ns);
  for (const id of ids) {
    if (attendants.has(id)) continue;
    const c = await client(url, Math.floor(attendants.size / perConnection));
    const clock = new FarmClock();
    const config = configFor(ports);
    const compiler = new Compiler(id, config, clock, () => noProbes, runner);
    const queue = t.attendantQueue(id);
    const sub = serveRpc(c, {
      queue,
      prefetch: RPC_PREFETCH,
      assert: (ch) => ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true }),
      handler: (body) => answer(id, body),
    });
    attendants.set(id, { compiler, clock, sub, config });
  }
  const deadline = Date.now() + 60_000;
  while ([...attendants.values()].some((a) => !a.sub.consuming)) {
    if (Date.now() > deadline) throw new Error(`${[...attendants.values()].filter((a) => !a.sub.consuming).length} attendants not consuming after 60 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
  stats.attendants = attendants.size;
  return { attendants: attendants.size };
}

/** Diagnostics: every hosted attendant compiles once, locally, no broker (at most `limit` at once). */
async function compileLocally(limit: number): Promise<{ ms: number; compilations: number; failures: number; failed: string[] }> {
  const limiter = new Limiter(limit);
  const t0 = performance.now();
  const all = await Promise.all([...attendants.values()].map((a) => limiter.run(() => a.compiler.compile())));
  const failed = all.flatMap((c) => c.services.filter((s) => s.status !== 'ok').map((s) => `${c.serverId}/${s.name}: ${s.status} ${s.detail}`));
  return { ms: Math.round((performance.now() - t0) * 10) / 10, compilations: all.length, failures: failed.length, failed: failed.slice(0, 5) };
}

async function exit(): Promise<void> {
  await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
}

process.on('disconnect', () => void exit().finally(() => process.exit(0)));

process.on('message', (m: HostCommand) => {
  const send = (body: unknown): void => void process.send?.({ seq: m.seq, body });
  void (async () => {
    switch (m.cmd) {
      case 'start':
        return send(await start(m.ids, m.ns, m.url, m.perConnection, m.ports));
      case 'runner':
        current = m.mode === 'memory' ? memoryRunner : m.mode === 'remote' ? remoteRunner(m.latencyMs ?? 2) : runCheck;
        return send({ mode: m.mode });
      case 'stats':
        return send({ ...stats, attendants: attendants.size });
      case 'compile-locally':
        return send(await compileLocally(m.limit));
      case 'exit':
        await exit();
        send(null);
        setTimeout(() => process.exit(0), 50);
        return;
    }
  })().catch((err: Error) => send({ error: err.message }));
});
