/**
 * `farmctl`: operators' command line for the availability fabric. `notify` posts a notification
 * to the notifier; `status` reads a repeater node's view; `servers` reads (or polls through) the poller. Run through `bin/farmctl.js` (after
 * `npm run build`) or `npx farmctl`. Exit status: 0 ok, 1 request failed, 2 usage error.
 */
import { readFileSync } from 'node:fs';
import { newToken, tokenEntry } from '@farm/common/auth/tokens';
import { readAllAvailability } from '@farm/common/http/availability-pages';
import { Credential, FarmctlCommand, FarmctlEnv, NotifyCommand, SYNOPSIS, ServersCommand, StatusCommand, TokenCreateCommand, USAGE, UsageError, parseFarmctlArgs } from './farmctl-args';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

const REQUEST_TIMEOUT_MS = 10_000;

export interface FarmctlIo {
  out: (line: string) => void;
  err: (line: string) => void;
  fetch: typeof fetch;
  now: () => Date;
  env: FarmctlEnv;
  readFile: (path: string) => string;
  /** The operator token of this run, once read (see `resolveToken`). */
  token?: string;
}

interface Answer {
  status: number;
  text: string;
  body: unknown;
}

class RequestFailed extends Error {}

async function request(io: FarmctlIo, what: string, url: string, init?: RequestInit): Promise<Answer> {
  let res: Response;
  let text: string;
  try {
    // The time limit covers the body too: a server that sends headers and then stalls fails the same way.
    const headers = new Headers(init?.headers);
    if (io.token) headers.set('authorization', `Bearer ${io.token}`);
    res = await io.fetch(url, { ...init, headers, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    text = await res.text();
  } catch (err) {
    const e = err as Error & { cause?: { code?: string; message?: string } };
    const detail = e.name === 'TimeoutError' ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
    throw new RequestFailed(`cannot reach the ${what} at ${url}: ${detail}`);
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body };
}

function field(obj: unknown, name: string): unknown {
  return typeof obj === 'object' && obj !== null ? (obj as Record<string, unknown>)[name] : undefined;
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

/** The lines that explain a 401 or 403, or undefined for any other answer. */
function refusal(a: Answer, url: string, io: FarmctlIo): string[] | undefined {
  if (a.status !== 401 && a.status !== 403) return undefined;
  const message = str(field(a.body, 'message')) || a.text.slice(0, 500);
  if (a.status === 401) {
    const hint = io.token ? 'the token was not accepted (revoked, mistyped, or from another farm)' : 'no token was sent: set FARM_TOKEN or pass --token-file';
    return [`not authorized (401 from ${url}): ${message}`, `  ${hint}`];
  }
  return [`forbidden (403 from ${url}): ${message}`, '  ask an admin for a token with that scope (farmctl token create)'];
}

/** Prints why a request failed, and returns the exit status. */
function failed(a: Answer, url: string, io: FarmctlIo): number {
  for (const l of refusal(a, url, io) ?? [`request failed: HTTP ${a.status} from ${url}${a.text ? `: ${a.text.slice(0, 500)}` : ''}`]) io.err(l);
  return EXIT_FAILED;
}

async function notify(cmd: NotifyCommand, io: FarmctlIo): Promise<number> {
  const url = `${cmd.notifierUrl}/v1/notifications`;
  const a = await request(io, 'notifier', url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(cmd.body),
  });
  if (cmd.json && a.body !== undefined) io.out(JSON.stringify(a.body, null, 2));
  if (a.status === 202) {
    if (!cmd.json) {
      const b = cmd.body;
      const state = b.available ? 'up' : `down (${b.reason ?? 'unknown'})`;
      const kinds = b.requestKinds ? ` [kinds: ${b.requestKinds.join(', ')}]` : '';
      io.out(`accepted: ${b.targetType ?? 'application'} ${b.target} ${state}${kinds}`);
      io.out(`  id:        ${str(field(a.body, 'id'))}`);
      io.out(`  timestamp: ${str(field(a.body, 'timestamp'))}`);
      if (b.downAt) io.out(`  down at:   ${b.downAt}`);
      if (b.expectedUpAt) io.out(`  expected up at: ${b.expectedUpAt}${b.autoRestore ? ' (auto-restore)' : ''}`);
    }
    return EXIT_OK;
  }
  if (a.status === 400) {
    io.err(`refused by the notifier (400 from ${url}):`);
    const errors = field(a.body, 'errors');
    if (Array.isArray(errors) && errors.length > 0) {
      for (const e of errors) io.err(`  ${str(field(e, 'field')) || '(body)'}: ${str(field(e, 'message'))}`);
    } else {
      io.err(`  ${a.text || '(no details)'}`);
    }
    return EXIT_FAILED;
  }
  if (a.status === 503) {
    io.err(`the broker is unavailable (503 from ${url}): the notification was not published; try again shortly`);
    const message = field(a.body, 'message');
    if (message) io.err(`  ${str(message)}`);
    return EXIT_FAILED;
  }
  return failed(a, url, io);
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function clip(text: string, max = 60): string {
  const oneLine = text.replace(/\s+/g, ' ');
  return oneLine.length > max ? `${oneLine.slice(0, max - 1)}…` : oneLine;
}

function printEntries(body: unknown, io: FarmctlIo): void {
  const entries = field(body, 'entries');
  const list = Array.isArray(entries) ? entries : [];
  io.out(`node ${str(field(body, 'nodeId'))}: ${str(field(body, 'count'))} entries, digest ${str(field(body, 'digest'))}`);
  if (list.length === 0) {
    io.out('(no entries: everything is available)');
    return;
  }
  const now = io.now().getTime();
  const scheduled = (e: unknown): boolean => field(e, 'available') === false && Date.parse(str(field(e, 'downAt'))) > now;
  const rows = list.map((e) => [
    str(field(e, 'target')),
    str(field(e, 'targetType')),
    str(field(e, 'kind')),
    field(e, 'available') === true ? 'yes' : scheduled(e) ? `no, from ${str(field(e, 'downAt'))}` : 'no',
    str(field(e, 'reason')),
    str(field(e, 'expectedUpAt')) + (field(e, 'autoRestore') === true ? ' (auto)' : ''),
    clip(str(field(e, 'message'))),
  ]);
  rows.sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]) || a[2].localeCompare(b[2]));
  for (const l of table(['TARGET', 'TYPE', 'KIND', 'AVAILABLE', 'REASON', 'EXPECTED UP AT', 'MESSAGE'], rows)) io.out(l);
}

function printLookup(body: unknown, io: FarmctlIo): void {
  const kind = str(field(body, 'kind'));
  const what = `${str(field(body, 'target'))}${kind && kind !== '*' ? ` (kind ${kind})` : ''}`;
  const available = field(body, 'available') === true;
  if (available && field(body, 'scheduled') === true) io.out(`${what}: available, but scheduled to go down at ${str(field(body, 'downAt'))}`);
  else io.out(`${what}: ${available ? 'available' : 'UNAVAILABLE'}`);
  const details: [string, unknown][] = [
    ['reason', field(body, 'reason')],
    ['component', field(body, 'component')],
    ['message', field(body, 'message')],
    ['expected up at', field(body, 'expectedUpAt')],
  ];
  const decidedBy = field(body, 'decidedBy');
  if (decidedBy) details.push(['decided by', `${str(field(decidedBy, 'key'))} (id ${str(field(decidedBy, 'id'))})`]);
  const deps = field(body, 'dependsOn');
  if (Array.isArray(deps) && deps.length > 0) details.push(['depends on', deps.join(', ')]);
  for (const [label, value] of details) if (value !== undefined && value !== '') io.out(`  ${label}: ${str(value)}`);
}

/** Every entry a node holds, following the pages of GET /v1/availability. */
async function allEntries(io: FarmctlIo, nodeUrl: string): Promise<unknown> {
  try {
    return await readAllAvailability(nodeUrl, async (url) => {
      const a = await request(io, 'repeater node', url);
      if (a.status !== 200 || a.body === undefined) throw new RequestFailed((refusal(a, url, io) ?? [`request failed: HTTP ${a.status} from ${url}${a.text ? `: ${a.text.slice(0, 500)}` : ''}`]).join('\n'));
      return a.body;
    });
  } catch (err) {
    throw err instanceof RequestFailed ? err : new RequestFailed(`request failed: ${(err as Error).message}`);
  }
}

async function status(cmd: StatusCommand, io: FarmctlIo): Promise<number> {
  if (cmd.target === undefined) {
    const body = await allEntries(io, cmd.nodeUrl);
    if (cmd.json) io.out(JSON.stringify(body, null, 2));
    else printEntries(body, io);
    return EXIT_OK;
  }
  const url = `${cmd.nodeUrl}/v1/availability/${encodeURIComponent(cmd.target)}${cmd.kind ? `?kind=${encodeURIComponent(cmd.kind)}` : ''}`;
  const a = await request(io, 'repeater node', url);
  if (a.status !== 200 || a.body === undefined) return failed(a, url, io);
  if (cmd.json) io.out(JSON.stringify(a.body, null, 2));
  else printLookup(a.body, io);
  return EXIT_OK;
}

/** A server's load as the poller shows it: `72.5 hold`, or `-` from an attendant that does not measure it. */
const loadText = (s: unknown): string => {
  const l = field(s, 'load');
  if (!l || typeof field(l, 'score') !== 'number') return '-';
  const zone = field(l, 'zone');
  const deferred = field(l, 'deferred');
  const n = Array.isArray(deferred) ? deferred.length : 0;
  return `${Number(field(l, 'score'))}${typeof zone === 'string' ? ` ${zone}` : ''}${n > 0 ? ` (${n} deferred)` : ''}`;
};

const deficiencyText = (d: unknown): string => `${str(field(d, 'kind'))}${field(d, 'service') ? ` ${str(field(d, 'service'))}` : ''}: ${clip(str(field(d, 'detail')))}`;

function printServers(body: unknown, io: FarmctlIo): void {
  const servers = field(body, 'servers');
  const rows = (Array.isArray(servers) ? servers : []).map((s: unknown) => {
    const ds = field(s, 'deficiencies');
    return [str(field(s, 'id')), str(field(s, 'list')), loadText(s), str(field(s, 'nextPollAt')), Array.isArray(ds) && ds.length ? ds.map(deficiencyText).join('; ') : '-'];
  });
  for (const l of table(['SERVER', 'LIST', 'LOAD', 'NEXT POLL', 'DEFICIENCIES'], rows)) io.out(l);
  const down = field(body, 'applicationsDown');
  const apps = down && typeof down === 'object' ? Object.keys(down) : [];
  if (apps.length) io.out(`applications the poller holds unavailable: ${apps.join(', ')}`);
}

function printServer(body: unknown, io: FarmctlIo): void {
  io.out(`${str(field(body, 'id'))}: ${str(field(body, 'list'))} list, load ${loadText(body)}, next poll ${str(field(body, 'nextPollAt'))}, last answer ${str(field(body, 'lastAnswerAt')) || 'never'}`);
  const ds = field(body, 'deficiencies');
  for (const d of Array.isArray(ds) ? ds : []) io.out(`  deficiency ${deficiencyText(d)}`);
  const c = field(body, 'lastCompilation');
  const services = field(c, 'services');
  if (Array.isArray(services)) {
    for (const l of table(['SERVICE', 'STATUS', 'DETAIL'], services.map((s: unknown) => [str(field(s, 'name')), str(field(s, 'status')), clip(str(field(s, 'detail')))]))) io.out(`  ${l}`);
  }
  const clock = field(body, 'clock');
  if (clock) io.out(`  clock offset ${Math.round(Number(field(clock, 'offsetMs')))} ms${field(clock, 'corrected') !== undefined ? `, corrected by ${Math.round(Number(field(clock, 'corrected')))} ms` : ''}`);
}

async function servers(cmd: ServersCommand, io: FarmctlIo): Promise<number> {
  const path = cmd.server === undefined ? '/v1/servers' : `/v1/servers/${encodeURIComponent(cmd.server)}${cmd.poll ? '/poll' : ''}`;
  const url = `${cmd.pollerUrl}${path}`;
  const a = await request(io, 'poller', url, cmd.poll ? { method: 'POST' } : undefined);
  if (a.status !== 200 || a.body === undefined) return failed(a, url, io);
  if (cmd.json) io.out(JSON.stringify(a.body, null, 2));
  else if (cmd.server === undefined) printServers(a.body, io);
  else printServer(a.body, io);
  return EXIT_OK;
}

function tokenCreate(cmd: TokenCreateCommand, io: FarmctlIo): number {
  const token = newToken();
  const entry = tokenEntry(cmd.name, cmd.scopes, token);
  if (cmd.json) {
    io.out(JSON.stringify({ token, entry }, null, 2));
    return EXIT_OK;
  }
  io.out(`token for ${cmd.name} (${cmd.scopes.join(', ')}), shown once; hand it over as a secret:`);
  io.out(`  ${token}`);
  io.out('add this entry to the "tokens" list of FARM_TOKENS_FILE (it keeps only the hash):');
  io.out(`  ${JSON.stringify(entry)}`);
  io.out('servers reload the file when it changes (or on SIGHUP); the holder uses it with');
  io.out(`  export FARM_TOKEN=${token}`);
  return EXIT_OK;
}

/** The token to send: read from --token-file, or $FARM_TOKEN, or none. */
function resolveToken(credential: Credential, io: FarmctlIo): string | undefined {
  if (credential === undefined) return undefined;
  if ('token' in credential) return credential.token || undefined;
  let text: string;
  try {
    text = io.readFile(credential.file);
  } catch (err) {
    throw new RequestFailed(`cannot read the token file ${credential.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const token = text.trim();
  if (!token || /\s/.test(token)) throw new RequestFailed(`the token file ${credential.file} must hold one token and nothing else`);
  return token;
}

async function run(cmd: FarmctlCommand, io: FarmctlIo): Promise<number> {
  if (cmd.command === 'help') {
    io.out(USAGE);
    return EXIT_OK;
  }
  if (cmd.command === 'token-create') return tokenCreate(cmd, io);
  const withToken = { ...io, token: resolveToken(cmd.credential, io) };
  if (cmd.command === 'servers') return servers(cmd, withToken);
  return cmd.command === 'notify' ? notify(cmd, withToken) : status(cmd, withToken);
}

/** Runs one command line (the arguments after `farmctl`) and resolves to the exit status. */
export async function main(argv: readonly string[], io: Partial<FarmctlIo> = {}): Promise<number> {
  const full: FarmctlIo = {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
    fetch: (input, init) => fetch(input, init),
    now: () => new Date(),
    env: process.env,
    readFile: (path) => readFileSync(path, 'utf8'),
    ...io,
  };
  let cmd: FarmctlCommand;
  try {
    cmd = parseFarmctlArgs(argv, full.now(), full.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    full.err(`farmctl: ${err.message}\n`);
    full.err(SYNOPSIS);
    full.err('Run `farmctl --help` for every option.');
    return EXIT_USAGE;
  }
  try {
    return await run(cmd, full);
  } catch (err) {
    if (err instanceof RequestFailed) {
      full.err(`farmctl: ${err.message}`);
      return EXIT_FAILED;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`farmctl: ${(err as Error)?.stack ?? String(err)}`);
      process.exitCode = EXIT_FAILED;
    },
  );
}
