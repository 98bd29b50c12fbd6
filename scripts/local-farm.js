#!/usr/bin/env node
/**
 * `npm start`: a whole farm on this machine. Checks that RabbitMQ and Redis answer, starts the
 * notifier, N repeaters, one attendant per repeater node and the poller from dist/ (build
 * first), prefixes their output with their names, waits until each is healthy and prints where
 * to look. Ctrl-C or SIGTERM stops them all.
 *
 * Environment: RABBITMQ_URL, REDIS_URL, FARM_NAMESPACE (default farm), APP_DEPENDENCIES
 * (default config/applications.yaml), NOTIFIER_PORT (3000), REPEATER_BASE_PORT (3100),
 * REPEATERS (3), POLLER_PORT (3200), ATTENDANT_BASE_PORT (3301), ATTENDANT_CONFIG (default
 * config/attendant.yaml), POLL_INTERVALS_MS (default 30000,5000 here: faster than production).
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const readline = require('node:readline');

const ROOT = path.join(__dirname, '..');
const RABBITMQ_URL = process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';
const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const NAMESPACE = process.env.FARM_NAMESPACE || 'farm';
const APP_DEPENDENCIES = process.env.APP_DEPENDENCIES || path.join(ROOT, 'config', 'applications.yaml');
const BROKER_WAIT_MS = 5000;
const HEALTH_WAIT_MS = 60_000;
const KILL_AFTER_MS = 5000;

const say = (line) => console.log(`[local-farm] ${line}`);

/** A URL without its password, for output (passwords are never printed): the apps' own helper (`npm start` builds first). */
const { describeUrl } = require(path.join(__dirname, '..', 'dist', 'out', 'libs', 'common', 'src', 'logging'));
/** The farm's credentials in .farm/auth (made once, then reused, so FARM_TOKEN stays valid across restarts). */
const AUTH_DIST = path.join(__dirname, '..', 'dist', 'out', 'libs', 'common', 'src', 'auth');
const { ensureDevCredentials } = require(path.join(AUTH_DIST, 'dev-credentials.js'));
const { brokerAccounts, provisionBrokerUsers } = require(path.join(AUTH_DIST, 'broker-provision.js'));
const { brokerUser } = require(path.join(AUTH_DIST, 'broker-users.js'));
const COMMON_DIST = path.join(__dirname, '..', 'dist', 'out', 'libs', 'common', 'src');
const fail = (line) => {
  console.error(`[local-farm] ${line}`);
  process.exit(1);
};
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function intEnv(name, fallback, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) fail(`${name}=${raw} must be an integer ${min}-${max}`);
  return Number(raw);
}

const NOTIFIER_PORT = intEnv('NOTIFIER_PORT', 3000, 1, 65535);
const BASE_PORT = intEnv('REPEATER_BASE_PORT', 3100, 1, 65535);
const REPEATERS = intEnv('REPEATERS', 3, 1, 50);
const POLLER_PORT = intEnv('POLLER_PORT', 3200, 1, 65535);
const ATTENDANT_BASE_PORT = intEnv('ATTENDANT_BASE_PORT', 3301, 1, 65535);
const ATTENDANT_CONFIG = process.env.ATTENDANT_CONFIG || path.join(ROOT, 'config', 'attendant.yaml');
const POLL_INTERVALS_MS = process.env.POLL_INTERVALS_MS || '30000,5000';

/** Whether something accepts a TCP connection at the URL's host and port within the timeout. */
function tcpAnswers(url, defaultPort, timeoutMs) {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : defaultPort;
  return new Promise((resolve) => {
    const socket = net.createConnection({ host: u.hostname, port });
    const done = (ok) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Retries until the deadline, so a broker that is just starting gets a few seconds. */
async function waitTcp(url, defaultPort) {
  const deadline = Date.now() + BROKER_WAIT_MS;
  while (Date.now() < deadline) {
    if (await tcpAnswers(url, defaultPort, Math.max(200, Math.min(1000, deadline - Date.now())))) return true;
    await sleep(250);
  }
  return false;
}

async function checkBrokers() {
  let bad = false;
  try {
    new URL(RABBITMQ_URL);
    new URL(REDIS_URL);
  } catch {
    fail('RABBITMQ_URL or REDIS_URL is not a URL');
  }
  const [mq, redis] = await Promise.all([waitTcp(RABBITMQ_URL, 5672), waitTcp(REDIS_URL, 6379)]);
  if (!mq) {
    bad = true;
    console.error(`[local-farm] RabbitMQ does not answer at ${describeUrl(RABBITMQ_URL)}. Start it with one of:
    rabbitmq-server -detached
    docker compose up -d rabbitmq
  or point RABBITMQ_URL at a running broker.`);
  }
  if (!redis) {
    bad = true;
    console.error(`[local-farm] Redis does not answer at ${describeUrl(REDIS_URL)}. Start it with one of:
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379
    docker compose up -d redis
  or point REDIS_URL at a running server.`);
  }
  if (bad) process.exit(1);
  say(`RabbitMQ answers at ${describeUrl(RABBITMQ_URL)}, Redis at ${describeUrl(REDIS_URL)}`);
}

function portFree(port) {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
}

/** The demo applications of the dependency file, for the summary; mail when unreadable. */
function demoApplications() {
  try {
    const doc = require('yaml').parse(fs.readFileSync(APP_DEPENDENCIES, 'utf8'));
    const apps = Object.keys((doc && doc.applications) || {});
    if (apps.length > 0) return apps;
  } catch {
    // The apps report a bad file themselves; the summary just shows the default.
  }
  return ['mail'];
}

const children = [];
/** Set in main(): the token file, key file and admin token of this local farm. */
let CREDS;
/** Set in main(): `per-process` with each process's broker URL (user -> URL), or `shared` (every process as RABBITMQ_URL's user). */
let BROKER = { mode: 'shared', urls: new Map() };
let stopping = false;

function prefixLines(stream, prefix, out) {
  readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix}${line}\n`));
}

/**
 * Each process its own broker user with least privilege (README, "Broker users"), created with
 * rabbitmqctl; their URLs go to .farm/auth/broker-urls.json. Where rabbitmqctl cannot reach the
 * broker (a remote one, no rights), every process connects as RABBITMQ_URL's user instead, with
 * FARM_BROKER_USERS=shared, and the farm says so.
 */
async function brokerUsers() {
  if (process.env.FARM_BROKER_USERS === 'shared') return { mode: 'shared', urls: new Map() };
  const processes = [{ role: 'notifier' }, { role: 'poller' }, { role: 'monitor' }, ...demoClientIds().map((id) => ({ role: 'client', id }))];
  for (let i = 1; i <= REPEATERS; i++) processes.push({ role: 'node', id: `node-${i}` }, { role: 'attendant', id: `node-${i}` });
  try {
    const urls = await provisionBrokerUsers(brokerAccounts(NAMESPACE, processes), RABBITMQ_URL);
    const file = path.join(ROOT, '.farm', 'auth', 'broker-urls.json');
    fs.writeFileSync(file, `${JSON.stringify(Object.fromEntries(urls), null, 2)}\n`, { mode: 0o600 });
    fs.chmodSync(file, 0o600);
    say(`created ${urls.size} broker users with least privilege (${NAMESPACE}.node.<id>, ${NAMESPACE}.monitor, ...); their URLs are in ${path.relative(process.cwd(), file) || file}`);
    return { mode: 'per-process', urls };
  } catch (err) {
    say(`cannot create broker users (${err.message.split('\n')[0]}); every process connects as RABBITMQ_URL's user, with FARM_BROKER_USERS=shared`);
    return { mode: 'shared', urls: new Map() };
  }
}

/** The broker URL of a process (its own user's, or RABBITMQ_URL when users are shared). */
function brokerUrl(role, id) {
  return BROKER.urls.get(brokerUser(NAMESPACE, role, id)) || RABBITMQ_URL;
}

/** Demo clients of the failover library (issue 12), two per node: they move when their node drains and come back when invited. */
const DEMO_CLIENTS_PER_NODE = Number(process.env.DEMO_CLIENTS_PER_NODE || 2);
let demo;

/** The demo clients' ids, `DEMO_CLIENTS_PER_NODE` per node in node order: web-1, web-2, ... */
function demoClientIds() {
  return Array.from({ length: Math.max(0, DEMO_CLIENTS_PER_NODE) * REPEATERS }, (_, i) => `web-${i + 1}`);
}

async function startDemoClients(repeaters) {
  if (DEMO_CLIENTS_PER_NODE <= 0) return [];
  const { FailoverClient } = require(path.join(COMMON_DIST, 'failover', 'failover-client.js'));
  const { AmqpClient } = require(path.join(COMMON_DIST, 'messaging', 'amqp-client.js'));
  const { parseKeyFile } = require(path.join(AUTH_DIST, 'keyring.js'));
  const Redis = require('ioredis');
  const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
  const keyring = parseKeyFile(fs.readFileSync(CREDS.keysFile, 'utf8'), CREDS.keysFile);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  // Each client connects as its own broker user (its queue only), as a real service would.
  const clients = [];
  const connections = [];
  const ids = demoClientIds();
  for (const [i, r] of repeaters.flatMap((r) => Array.from({ length: DEMO_CLIENTS_PER_NODE }, () => r)).entries()) {
    const id = ids[i];
    const amqp = new AmqpClient({ url: brokerUrl('client', id), name: `local farm demo client ${id}`, logger: quiet });
    await amqp.start();
    connections.push(amqp);
    const c = new FailoverClient({ id, address: `127.0.0.1:${9001 + i}`, latencyMs: i + 1, ns: NAMESPACE, server: { id: r.name, address: r.url }, keyring, redis, amqp, log: quiet });
    c.on('moved', (from, to, why) => say(`client ${id} moved from ${from.id} to ${to.id} (${why})`));
    c.on('refused', (reason) => say(`client ${id} refused a message (${reason})`));
    await c.start();
    clients.push(c);
  }
  demo = { clients, connections, redis };
  return clients;
}

async function stopDemoClients() {
  if (!demo) return;
  for (const c of demo.clients) await c.stop().catch(() => undefined);
  for (const amqp of demo.connections) await amqp.stop().catch(() => undefined);
  demo.redis.disconnect();
}

function start(name, app, port, extraEnv) {
  const url = `http://127.0.0.1:${port}`;
  // A small young generation keeps a repeater's RSS down (see bench/README.md); yours wins if set.
  // Logs for people here (FARM_LOG_FORMAT=json gives the JSON lines the apps write elsewhere).
  const env = { NODE_OPTIONS: '--max-semi-space-size=2', FARM_LOG_FORMAT: 'pretty', ...CREDS.env, ...process.env, RABBITMQ_URL, ...extraEnv, HTTP_PORT: String(port), FARM_NAMESPACE: NAMESPACE, APP_DEPENDENCIES, REDIS_URL, FARM_BROKER_USERS: BROKER.mode };
  if (!process.stdout.isTTY && env.NO_COLOR === undefined) env.NO_COLOR = '1';
  // Own process group: Ctrl-C reaches only this script, which then stops each child once.
  const proc = spawn(process.execPath, [path.join(ROOT, 'dist', 'apps', app, 'main.js')], {
    cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  const child = { name, app, port, url, proc, exited: false };
  const prefix = `[${name}] `.padEnd(`attendant-node-${REPEATERS}`.length + 3);
  prefixLines(proc.stdout, prefix, process.stdout);
  prefixLines(proc.stderr, prefix, process.stderr);
  child.done = new Promise((resolve) => {
    proc.once('exit', (code, signal) => {
      child.exited = true;
      if (!stopping) say(`${name} (pid ${proc.pid}) exited unexpectedly (${signal ? `signal ${signal}` : `code ${code}`}); see its output above`);
      resolve();
      if (!stopping && children.every((c) => c.exited)) {
        say('every process has exited; stopping');
        process.exit(1);
      }
    });
    proc.once('error', (err) => {
      say(`${name} could not start: ${err.message}`);
    });
  });
  children.push(child);
  return child;
}

function healthStatus(url) {
  return new Promise((resolve) => {
    const req = http.get(`${url}/v1/health`, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(0));
  });
}

async function waitHealthy(child) {
  const deadline = Date.now() + HEALTH_WAIT_MS;
  let last = 0;
  while (Date.now() < deadline && !stopping) {
    if (child.exited) throw new Error(`${child.name} exited before it became healthy`);
    last = await healthStatus(child.url);
    if (last === 200) return;
    await sleep(300);
  }
  if (!stopping) throw new Error(`${child.name} is not healthy at ${child.url}/v1/health after ${HEALTH_WAIT_MS / 1000} s (last status ${last || 'no answer'})`);
}

/** SIGTERM to every child, SIGKILL to those still running after KILL_AFTER_MS; then exit. */
async function stopAll(code, why) {
  if (stopping) return;
  stopping = true;
  await stopDemoClients();
  const running = children.filter((c) => !c.exited);
  if (why) say(`${why}; stopping ${running.map((c) => c.name).join(', ') || 'nothing'}`);
  for (const c of running) c.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const c of children.filter((x) => !x.exited)) {
      say(`${c.name} did not stop within ${KILL_AFTER_MS / 1000} s; killing it`);
      c.proc.kill('SIGKILL');
    }
  }, KILL_AFTER_MS);
  await Promise.all(running.map((c) => c.done));
  clearTimeout(timer);
  say('stopped');
  process.exit(code);
}

function summary(notifier, repeaters, poller, attendants, clients) {
  const apps = demoApplications();
  const upAt = new Date(Date.now() + 2 * 3600 * 1000).toISOString();
  const notifierOpt = NOTIFIER_PORT === 3000 ? '' : ` --notifier ${notifier.url}`;
  const nodeOpt = BASE_PORT === 3100 ? '' : ` --node ${repeaters[0].url}`;
  const body = JSON.stringify({ target: 'db-main', targetType: 'resource', available: false, reason: 'maintenance', expectedUpAt: upAt, message: 'database maintenance' });
  const lines = [
    '',
    `Local farm is up (FARM_NAMESPACE=${NAMESPACE}, ${repeaters.length} repeaters)`,
    '',
    `  notifier  ${notifier.url}  (POST /v1/notifications, GET /v1/health, GET /metrics)`,
    ...repeaters.map((r) => `  ${r.name.padEnd(8)}  ${r.url}/v1/availability  ${r.url}/v1/health  ${r.url}/v1/ring  ${r.url}/metrics`),
    '',
    `  poller    ${poller.url}/v1/servers  ${poller.url}/v1/events (server-sent events)  ${poller.url}/metrics`,
    ...attendants.map((a) => `  ${a.name.padEnd(8)}  ${a.url}/v1/compilation  ${a.url}/v1/clock`),
    '',
    'Demo routes (503 with Retry-After while the application is unavailable):',
    ...apps.map((a, i) => `  ${repeaters[i % repeaters.length].url}/apps/${a}${i === 0 ? '/send' : ''}`),
    '',
    `Every change and read needs an operator token (an admin one is in ${path.relative(process.cwd(), CREDS.tokenFile) || CREDS.tokenFile}):`,
    `  export FARM_TOKEN=$(cat ${path.relative(process.cwd(), CREDS.tokenFile) || CREDS.tokenFile})`,
    ...(BROKER.mode === 'per-process'
      ? [`Each process has its own broker user; a monitoring system publishes to ${NAMESPACE}.ingress as ${NAMESPACE}.monitor (its URL is in .farm/auth/broker-urls.json).`]
      : [`Every process connects to the broker as one user (FARM_BROKER_USERS=shared).`]),
    `API descriptions: ${notifier.url}/docs, ${repeaters[0].url}/docs, ${poller.url}/docs (OpenAPI at /openapi.json).`,
    '',
    'Try:',
    `  curl -i -X POST ${notifier.url}/v1/notifications -H 'content-type: application/json' -H "authorization: Bearer $FARM_TOKEN" \\`,
    `    -d '${body}'`,
    `  npx farmctl notify --target mail --down --reason maintenance --for 2h${notifierOpt}`,
    `  npx farmctl status${nodeOpt}`,
    `  npx farmctl status --target mail --kind send --node ${repeaters[repeaters.length - 1].url}`,
    `  npx farmctl notify --resource db-main --up${notifierOpt}`,
    '',
    'Monitoring (polls every 30 s, every 5 s while critical):',
    `  curl -N -H "authorization: Bearer $FARM_TOKEN" ${poller.url}/v1/events &`,
    `  touch ${path.relative(process.cwd(), path.join(ROOT, '.farm', 'smtp.down')) || '.farm/smtp.down'}   # smtp fails: the servers go critical, mail becomes unavailable`,
    `  npx farmctl servers --server node-1 --poll${POLLER_PORT === 3200 ? '' : ` --poller ${poller.url}`}   # poll now instead of waiting`,
    `  npx farmctl servers${POLLER_PORT === 3200 ? '' : ` --poller ${poller.url}`}                         # the lists`,
    `  rm ${path.relative(process.cwd(), path.join(ROOT, '.farm', 'smtp.down')) || '.farm/smtp.down'}      # and back`,
    '',
    ...(clients.length
      ? [
        `Load-aware failover (${clients.length} demo clients, ${clients.map((c) => `${c.id} on ${c.current.id}`).join(', ')}):`,
        `  curl -H "authorization: Bearer $FARM_TOKEN" ${attendants[0].url}/v1/load   # node-1's load score and zone`,
        `  touch ${path.relative(process.cwd(), path.join(ROOT, '.farm', `${repeaters[0].name}.drain`)) || '.farm/node-1.drain'}   # node-1's load goes to the worst: its clients are told to move`,
        `  rm ${path.relative(process.cwd(), path.join(ROOT, '.farm', `${repeaters[0].name}.drain`)) || '.farm/node-1.drain'}      # and they are invited back, two at a time`,
        '',
      ]
      : []),
    'Ctrl-C stops the farm.',
    '',
  ];
  console.log(lines.join('\n'));
}

async function main() {
  for (const app of ['notifier', 'repeater', 'poller', 'attendant']) {
    if (!fs.existsSync(path.join(ROOT, 'dist', 'apps', app, 'main.js'))) fail(`dist/apps/${app}/main.js is missing: run \`npm run build\` first (or \`npm start\`)`);
  }
  await checkBrokers();
  CREDS = ensureDevCredentials(path.join(ROOT, '.farm', 'auth'));
  BROKER = await brokerUsers();
  const ports = [NOTIFIER_PORT, POLLER_PORT, ...Array.from({ length: REPEATERS }, (_, i) => BASE_PORT + i), ...Array.from({ length: REPEATERS }, (_, i) => ATTENDANT_BASE_PORT + i)];
  if (new Set(ports).size !== ports.length) fail(`the ports overlap: NOTIFIER_PORT ${NOTIFIER_PORT}, POLLER_PORT ${POLLER_PORT}, repeaters ${BASE_PORT}-${BASE_PORT + REPEATERS - 1}, attendants ${ATTENDANT_BASE_PORT}-${ATTENDANT_BASE_PORT + REPEATERS - 1}`);
  for (const port of ports) {
    if (!(await portFree(port))) fail(`port ${port} is in use (another local farm running?); set NOTIFIER_PORT / REPEATER_BASE_PORT / POLLER_PORT / ATTENDANT_BASE_PORT to use others`);
  }

  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => void stopAll(0, `${sig} received`));
  // Last resort if this script dies of an error: leave no children behind.
  process.on('exit', () => {
    for (const c of children) if (!c.exited) c.proc.kill('SIGKILL');
  });

  say(`starting the notifier, ${REPEATERS} repeaters, ${REPEATERS} attendants and the poller (FARM_NAMESPACE=${NAMESPACE}, APP_DEPENDENCIES=${APP_DEPENDENCIES})`);
  const notifier = start('notifier', 'notifier', NOTIFIER_PORT, { RABBITMQ_URL: brokerUrl('notifier') });
  const repeaters = Array.from({ length: REPEATERS }, (_, i) => {
    const port = BASE_PORT + i;
    return start(`node-${i + 1}`, 'repeater', port, { NODE_ID: `node-${i + 1}`, NODE_ADDRESS: `http://127.0.0.1:${port}`, RABBITMQ_URL: brokerUrl('node', `node-${i + 1}`) });
  });
  let attendants;
  let poller;
  try {
    await Promise.all(children.map(waitHealthy));
    // Attendants probe their repeater at once, so they start once the repeaters answer.
    fs.mkdirSync(path.join(ROOT, '.farm'), { recursive: true });
    attendants = repeaters.map((r, i) =>
      start(`attendant-${r.name}`, 'attendant', ATTENDANT_BASE_PORT + i, { SERVER_ID: r.name, ATTENDANT_CONFIG, REPEATER_URL: r.url, RABBITMQ_URL: brokerUrl('attendant', r.name) }),
    );
    poller = start('poller', 'poller', POLLER_PORT, { POLL_INTERVALS_MS, RABBITMQ_URL: brokerUrl('poller') });
    await Promise.all([...attendants, poller].map(waitHealthy));
  } catch (err) {
    await stopAll(1, err.message);
    return;
  }
  let clients = [];
  try {
    clients = await startDemoClients(repeaters);
  } catch (err) {
    say(`the demo clients could not start (${err.message}); the farm runs without them`);
  }
  if (!stopping) summary(notifier, repeaters, poller, attendants, clients);
}

main().catch((err) => {
  console.error(`[local-farm] ${(err && err.stack) || err}`);
  void stopAll(1, 'unexpected error');
});
