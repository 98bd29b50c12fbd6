/**
 * The real attendant app (dist/apps/attendant/main.js) with ten checks of four kinds, queried
 * over its queue one request at a time; beside it, the same ten checks run one after another in
 * this process, and the RPC round trip to a responder that only echoes (the floor).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureDevCredentials } from '../../libs/common/src/auth/dev-credentials';
import { SIGNATURE_HEADER } from '../../libs/common/src/auth/command-signature';
import { CommandSigner } from '../../libs/common/src/auth/command-verifier';
import { parseKeyFile } from '../../libs/common/src/auth/keyring';
import { mailboxQueue, topology } from '../../libs/common/src/contracts/topology';
import { checkDto, parseJson } from '../../libs/common/src/contracts/validation';
import { AmqpClient } from '../../libs/common/src/messaging/amqp-client';
import { RpcClient } from '../../libs/common/src/messaging/rpc';
import { serveRpc } from './serve-rpc';
import { parseAttendantConfig } from '../../libs/common/src/monitoring/attendant-config';
import { processScanner, runCheck } from '../../libs/common/src/monitoring/checks';
import { ATTENDANT_COMMAND, CompilationDto } from '../../libs/common/src/monitoring/compilation';
import { AppProcess } from '../../libs/common/src/testing/farm-process';
import { LatencySummary, sleep, summarize } from './util';

export const PLUGIN = '/usr/lib/nagios/plugins/check_dummy';
export const ATTENDANT_ID = 'bench-attendant';
const QUERY = Buffer.from(JSON.stringify({ op: 'query' }));

export interface AttendantResult {
  rounds: number;
  /** Round trip of `{op:'query'}` to the attendant app, answer validated. */
  answer: LatencySummary;
  /** The attendant's own `compiledInMs` of those answers. */
  compiled_in: LatencySummary;
  /** The same ten checks one after another in the bench process (one query's worth each). */
  serial_checks: LatencySummary;
  /** RPC round trip to a responder that echoes the request (same RpcClient): the floor. */
  echo: LatencySummary;
  answer_bytes: number;
  /** Each check's own duration inside those answers (`durationMs`), p50 and p99 per service. */
  service_ms: Record<string, { p50_ms: number; p99_ms: number }>;
  checks: string[];
  rss_mb: number | null;
  log: string;
}

export interface AttendantBenchOptions {
  ns: string;
  rabbitmqUrl: string;
  redisUrl: string;
  rpc: RpcClient;
  logDir: string;
  warmup: number;
  rounds: number;
  serialRounds: number;
  log: (m: string) => void;
}

/** Queues the section declares (for the run's cleanup). */
export function attendantQueues(ns: string): string[] {
  return [topology(ns).attendantQueue(ATTENDANT_ID), mailboxQueue(ns, ATTENDANT_ID), `${ns}.bench.echo`];
}

function rssMb(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

export async function runAttendantBench(o: AttendantBenchOptions): Promise<AttendantResult> {
  if (!existsSync(PLUGIN)) throw new Error(`${PLUGIN} is missing (the attendant's command check runs it): apt-get install monitoring-plugins-basic`);
  const sockets = new Set<Socket>();
  const tcp: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
    s.resume();
  });
  const http: HttpServer = createHttpServer((_req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n'));
  await Promise.all([tcp, http].map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()))));
  const tcpPort = (tcp.address() as { port: number }).port;
  const httpPort = (http.address() as { port: number }).port;
  const dir = mkdtempSync(join(tmpdir(), 'bench-polling-'));
  const file = join(dir, 'attendant.yaml');
  const check = (name: string, c: Record<string, unknown>) => ({ name, mandatory: true, applications: ['bench-app'], check: c });
  const services = [
    ...[1, 2, 3, 4].map((i) => check(`tcp-${i}`, { kind: 'tcp', host: '127.0.0.1', port: tcpPort })),
    ...[1, 2, 3].map((i) => check(`http-${i}`, { kind: 'http', url: `http://127.0.0.1:${httpPort}/health/${i}` })),
    check('process-node', { kind: 'process', name: 'node' }),
    check('process-redis', { kind: 'process', name: 'redis-server' }),
    check('command-dummy', { kind: 'command', command: PLUGIN, args: ['0', 'ok'] }),
  ];
  writeFileSync(file, stringify({ checkTimeoutMs: 2000, probes: { login: { enabled: false }, refresh: { enabled: false } }, services }));
  const config = parseAttendantConfig(readFileSync(file, 'utf8'), file);
  const creds = ensureDevCredentials(join(o.logDir, 'auth'));
  // The attendant answers only queries the farm signed, as the poller signs them (one signature each).
  const signer = new CommandSigner('bench-poller', parseKeyFile(readFileSync(creds.keysFile, 'utf8'), creds.keysFile), Date.now);
  const query = () => o.rpc.call(queue, QUERY, 5000, { [SIGNATURE_HEADER]: signer.sign(ATTENDANT_ID, ATTENDANT_COMMAND, { op: 'query' }) });
  const app = new AppProcess({
    app: 'attendant',
    name: `${ATTENDANT_ID}`,
    logDir: o.logDir,
    env: { FARM_NAMESPACE: o.ns, SERVER_ID: ATTENDANT_ID, ATTENDANT_CONFIG: file, RABBITMQ_URL: o.rabbitmqUrl, REDIS_URL: o.redisUrl, ...creds.env },
    token: creds.token,
  });
  const echoClient = new AmqpClient({ url: o.rabbitmqUrl, name: 'bench polling echo', logger: { log: () => undefined, warn: () => undefined, error: (m) => o.log(`echo: ${m}`) } });
  const queue = topology(o.ns).attendantQueue(ATTENDANT_ID);
  try {
    await app.start();
    await app.ready(60_000);
    o.log(`attendant up (pid ${app.pid}, log ${app.logFile})`);

    const perService = new Map<string, number[]>();
    let measuring = false;
    const validate = (raw: Buffer): number => {
      const checked = checkDto(CompilationDto, parseJson(raw, 4 * 1024 * 1024));
      if (!checked.value) throw new Error(`the attendant's answer is not a valid compilation: ${JSON.stringify(checked.errors.slice(0, 5))}`);
      const c = checked.value;
      if (c.serverId !== ATTENDANT_ID) throw new Error(`the attendant answered as ${c.serverId}`);
      const bad = c.services.filter((s) => s.status !== 'ok');
      if (c.services.length !== services.length || bad.length) {
        throw new Error(`the attendant reported ${c.services.length} services, not all ok: ${bad.map((s) => `${s.name} ${s.status} (${s.detail})`).join('; ')}`);
      }
      if (measuring) for (const s of c.services) perService.set(s.name, [...(perService.get(s.name) ?? []), s.durationMs]);
      return c.compiledInMs;
    };
    // The first query may race the queue's consumer at start-up: retry it for a few seconds.
    for (let attempt = 0; ; attempt++) {
      try {
        validate(await query());
        break;
      } catch (err) {
        if (attempt >= 5 || !/no reply/.test((err as Error).message)) throw err;
      }
    }
    for (let i = 0; i < o.warmup; i++) validate(await query());
    const rtt: number[] = [];
    const compiled: number[] = [];
    measuring = true;
    let bytes = 0;
    for (let i = 0; i < o.rounds; i++) {
      const t0 = performance.now();
      const raw = await query();
      rtt.push(performance.now() - t0);
      bytes = raw.length;
      compiled.push(validate(raw));
    }
    const rss = rssMb(app.pid);
    o.log(`attendant: p50 ${summarize(rtt).p50_ms} ms, p99 ${summarize(rtt).p99_ms} ms over ${o.rounds} queries; its checks' p50/p99: ${[...perService].map(([name, ms]) => `${name} ${summarize(ms).p50_ms}/${summarize(ms).p99_ms}`).join(', ')}`);

    // Baseline: the same checks, one after another, as one query would run them serially.
    const serial: number[] = [];
    for (let i = 0; i < o.serialRounds; i++) {
      const ctx = { countProcesses: processScanner() };
      const t0 = performance.now();
      for (const s of config.services) {
        const r = await runCheck(s.check, config.checkTimeoutMs, ctx);
        if (r.status !== 'ok') throw new Error(`serial baseline: ${s.name} is ${r.status} (${r.detail})`);
      }
      serial.push(performance.now() - t0);
    }

    // Floor: the same RPC path to a responder that does nothing but echo.
    const echoQueue = `${o.ns}.bench.echo`;
    const sub = serveRpc(echoClient, { queue: echoQueue, prefetch: 16, assert: (ch) => ch.assertQueue(echoQueue, { durable: false, exclusive: true, autoDelete: true }), handler: async (b) => b });
    await echoClient.start();
    while (!sub.consuming) await sleep(10);
    for (let i = 0; i < o.warmup; i++) await o.rpc.call(echoQueue, QUERY, 5000);
    const echo: number[] = [];
    for (let i = 0; i < o.rounds; i++) {
      const t0 = performance.now();
      const raw = await o.rpc.call(echoQueue, QUERY, 5000);
      echo.push(performance.now() - t0);
      if (!raw.equals(QUERY)) throw new Error('echo responder answered something else');
    }
    return {
      rounds: o.rounds,
      answer: summarize(rtt),
      compiled_in: summarize(compiled),
      serial_checks: summarize(serial),
      echo: summarize(echo),
      answer_bytes: bytes,
      service_ms: Object.fromEntries([...perService].map(([name, ms]) => {
        const { p50_ms, p99_ms } = summarize(ms);
        return [name, { p50_ms, p99_ms }];
      })),
      checks: services.map((s) => `${s.name} (${String(s.check.kind)})`),
      rss_mb: rss,
      log: app.logFile,
    };
  } finally {
    await app.stop('SIGTERM', 10_000).catch(() => undefined);
    await echoClient.stop().catch(() => undefined);
    sockets.forEach((s) => s.destroy());
    tcp.close();
    http.closeAllConnections();
    http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
