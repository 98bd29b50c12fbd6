/**
 * Argument parsing of the `farmctl` CLI: pure (no I/O, no process globals), so the whole
 * command line grammar is unit-tested. `parseFarmctlArgs` returns a command or throws a
 * UsageError whose message says what is wrong.
 */
import { SCOPES, Scope, TOKEN_NAME, parseScopes } from '@farm/common/auth/tokens';
import { ConfigError } from '@farm/common/domain/errors';
import { REASONS, Reason, TargetType } from '@farm/common/domain/notification';

export const DEFAULT_NOTIFIER_URL = 'http://127.0.0.1:3000';
export const DEFAULT_NODE_URL = 'http://127.0.0.1:3100';
export const DEFAULT_POLLER_URL = 'http://127.0.0.1:3200';

/** The synopsis, printed after a usage error. */
export const SYNOPSIS = `Usage:
  farmctl notify --target T --down [--reason R] [--until ISO | --for DURATION] [options]
  farmctl notify --target T --up [options]
  farmctl status [--target T [--kind K]] [--node URL] [--json]
  farmctl servers [--server ID [--poll]] [--poller URL] [--json]
  farmctl token create --name N --scopes S[,S...] [--json]
  farmctl --help`;

export const USAGE = `${SYNOPSIS}

notify: posts a notification to the notifier (POST <notifier>/v1/notifications)
  --target T           application or resource id, or "*" for the whole system (required)
  --resource [T]       the target is a resource (a dependency of applications), not an application
  --down | --up        unavailable, or available again (exactly one)
  --reason R           ${REASONS.join(' | ')} (with --down; default unknown)
  --until ISO          expected back at this time (ISO-8601)
  --for DURATION       expected back after this long: 30s, 15m, 2h, 1d, 1h30m
                       (counted from --at when given, else from now)
  --at ISO             goes down at this time (a scheduled outage)
  --auto-restore       available again once the expected time has passed
  --message TEXT       shown to users (at most 1000 characters)
  --component NAME     the failing component
  --kind K             applies only to this request kind; repeatable (default: all kinds)
  --priority 0-9       higher overtakes a backlog (default 0)
  --operator ID        who enters it (default: $USER, else "cli")
  --notifier URL       notifier base URL (default: $NOTIFIER_URL, else ${DEFAULT_NOTIFIER_URL})

status: reads a repeater node's view (GET <node>/v1/availability[/T?kind=K])
  --target T           look up one application (or resource) instead of listing every entry
  --kind K             request kind of the lookup (with --target)
  --node URL           repeater base URL (default: $REPEATER_URL, else ${DEFAULT_NODE_URL})

servers: the poller's lists (GET <poller>/v1/servers[/ID])
  --server ID          one server, with its last compilation
  --poll               poll that server now (POST <poller>/v1/servers/ID/poll)
  --poller URL         poller base URL (default: $POLLER_URL, else ${DEFAULT_POLLER_URL})

token create: makes a new operator token (no request is sent)
  --name N             who or what holds it (1-64 of [A-Za-z0-9_.@-])
  --scopes S,S         ${SCOPES.join(', ')} (admin grants every scope)
                       prints the token once, and the entry to add to FARM_TOKENS_FILE

common:
  --json               print the server's raw JSON answer
  --token-file PATH    read the operator token from this file (default: $FARM_TOKEN);
                       sent as Authorization: Bearer <token>
  -h, --help           print this help

Exit status: 0 ok, 1 request failed, 2 usage error.`;

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The request body of POST /v1/notifications, as the contract names its fields. */
export interface NotificationBody {
  target: string;
  targetType?: TargetType;
  available: boolean;
  reason?: Reason;
  component?: string;
  message?: string;
  operatorId: string;
  downAt?: string;
  expectedUpAt?: string;
  autoRestore?: boolean;
  requestKinds?: string[];
  priority?: number;
}

/** Where the operator token comes from: a file to read, or $FARM_TOKEN; none sends no Authorization. */
export type Credential = { file: string } | { token: string } | undefined;

export interface NotifyCommand {
  command: 'notify';
  credential: Credential;
  notifierUrl: string;
  json: boolean;
  body: NotificationBody;
}

export interface StatusCommand {
  command: 'status';
  credential: Credential;
  nodeUrl: string;
  json: boolean;
  target?: string;
  kind?: string;
}

export interface ServersCommand {
  command: 'servers';
  credential: Credential;
  pollerUrl: string;
  json: boolean;
  server?: string;
  poll: boolean;
}

export interface HelpCommand { command: 'help' }

export interface TokenCreateCommand {
  command: 'token-create';
  name: string;
  scopes: Scope[];
  json: boolean;
}

export type FarmctlCommand = NotifyCommand | StatusCommand | ServersCommand | TokenCreateCommand | HelpCommand;

/** The environment variables farmctl reads for its defaults. */
export type FarmctlEnv = Partial<Record<'NOTIFIER_URL' | 'REPEATER_URL' | 'POLLER_URL' | 'USER' | 'FARM_TOKEN', string>>;

const FLAGS = new Set(['down', 'up', 'auto-restore', 'json', 'help', 'poll']);
const VALUED = new Set([
  'target', 'reason', 'until', 'for', 'at', 'message', 'component', 'kind', 'priority', 'operator', 'notifier', 'node', 'server', 'poller',
  'name', 'scopes', 'token-file',
]);
const REPEATABLE = new Set(['kind']);
const NOTIFY_ONLY = ['resource', 'down', 'up', 'reason', 'until', 'for', 'at', 'auto-restore', 'message', 'component', 'priority', 'operator', 'notifier'];
const STATUS_ONLY = ['node'];
const SERVERS_ONLY = ['server', 'poll', 'poller'];
const TOKEN_ONLY = ['name', 'scopes'];
const DOWN_ONLY = ['reason', 'until', 'for', 'at', 'auto-restore'];
const KIND_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_MESSAGE = 1000;

interface RawOptions {
  values: Map<string, string[]>;
  positionals: string[];
}

/** Splits argv into `--name value` / `--name=value` options, flags and positionals. */
function tokenize(argv: readonly string[]): RawOptions {
  const values = new Map<string, string[]>();
  const positionals: string[] = [];
  const add = (name: string, value: string): void => {
    const prev = values.get(name);
    if (prev && !REPEATABLE.has(name)) throw new UsageError(`--${name} given more than once`);
    values.set(name, [...(prev ?? []), value]);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h') {
      add('help', '');
      continue;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    if (FLAGS.has(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      add(name, '');
    } else if (name === 'resource') {
      // A flag, or `--resource NAME` as a shorthand of `--target NAME --resource`.
      const next = argv[i + 1];
      if (inline !== undefined) add(name, inline);
      else if (next !== undefined && !next.startsWith('-')) add(name, argv[++i]);
      else add(name, '');
    } else if (VALUED.has(name)) {
      const value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
      add(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { values, positionals };
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** Milliseconds of a duration like 30s, 15m, 2h, 1d or 1h30m; throws a UsageError otherwise. */
export function parseDuration(text: string): number {
  if (!/^(\d+[smhd])+$/.test(text)) throw new UsageError(`bad duration "${text}": use a number and a unit s, m, h or d, e.g. 30s, 15m, 2h, 1d, 1h30m`);
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * DURATION_UNITS[unit];
  if (ms <= 0) throw new UsageError(`bad duration "${text}": must be longer than zero`);
  return ms;
}

const ISO_PATTERN = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * Milliseconds since the epoch of an ISO-8601 date or date-time. A time without an offset is
 * local time (a date alone is UTC, as JavaScript reads it). Impossible dates are refused.
 */
export function parseIsoDate(option: string, text: string): number {
  const m = ISO_PATTERN.exec(text);
  const ms = m ? Date.parse(text.replace(' ', 'T')) : NaN;
  const [, , month, day, hour, minute, second] = m ?? [];
  const fieldsOk = m !== null && Number(month) >= 1 && Number(month) <= 12 && Number(day) >= 1
    && Number(day) <= daysIn(Number(m[1]), Number(month)) && Number(hour ?? 0) <= 23 && Number(minute ?? 0) <= 59 && Number(second ?? 0) <= 59;
  if (!fieldsOk || Number.isNaN(ms)) throw new UsageError(`bad date for --${option}: "${text}" (use ISO-8601, e.g. 2026-11-24T18:00:00Z)`);
  return ms;
}

const daysIn = (year: number, month: number): number => new Date(Date.UTC(year, month, 0)).getUTCDate();

function parseHttpUrl(option: string, text: string): string {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new UsageError(`bad URL for --${option}: "${text}"`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`bad URL for --${option}: "${text}" (use http:// or https://)`);
  return text.replace(/\/+$/, '');
}

function rejectOptions(o: RawOptions, names: readonly string[], why: string): void {
  const bad = names.filter((n) => o.values.has(n));
  if (bad.length > 0) throw new UsageError(`${bad.map((n) => `--${n}`).join(', ')} ${why}`);
}

const one = (o: RawOptions, name: string): string | undefined => o.values.get(name)?.[0];

function kindsOf(o: RawOptions): string[] | undefined {
  const raw = o.values.get('kind');
  if (!raw) return undefined;
  const kinds = raw.flatMap((k) => k.split(',')).map((k) => k.trim());
  const bad = kinds.find((k) => !KIND_PATTERN.test(k));
  if (bad !== undefined) throw new UsageError(`bad request kind "${bad}": 1-64 of [A-Za-z0-9._:-]`);
  return [...new Set(kinds)];
}

function targetOf(o: RawOptions): string {
  const target = one(o, 'target');
  const resource = one(o, 'resource');
  if (target !== undefined && resource && resource !== target) throw new UsageError(`--target ${target} and --resource ${resource} name different targets`);
  const t = target ?? (resource || undefined);
  if (t === undefined) throw new UsageError('--target is required');
  if (t === '') throw new UsageError('--target must not be empty');
  return t;
}

function credentialOf(o: RawOptions, env: FarmctlEnv): Credential {
  const file = one(o, 'token-file');
  if (file !== undefined) {
    if (file === '') throw new UsageError('--token-file must not be empty');
    return { file };
  }
  return env.FARM_TOKEN ? { token: env.FARM_TOKEN.trim() } : undefined;
}

function parseNotify(o: RawOptions, now: Date, env: FarmctlEnv): NotifyCommand {
  rejectOptions(o, TOKEN_ONLY, 'only apply to token create');
  rejectOptions(o, STATUS_ONLY, 'only apply to status');
  rejectOptions(o, SERVERS_ONLY, 'only apply to servers');
  const down = o.values.has('down');
  const up = o.values.has('up');
  if (down && up) throw new UsageError('--up and --down exclude each other');
  if (!down && !up) throw new UsageError('one of --down or --up is required');
  if (up) rejectOptions(o, DOWN_ONLY, 'only apply with --down');
  if (o.values.has('until') && o.values.has('for')) throw new UsageError('--until and --for exclude each other');

  const body: NotificationBody = { target: targetOf(o), available: up, operatorId: one(o, 'operator') ?? (env.USER || 'cli') };
  if (o.values.has('resource')) body.targetType = 'resource';
  const reason = one(o, 'reason');
  if (reason !== undefined) {
    if (!(REASONS as readonly string[]).includes(reason)) throw new UsageError(`bad --reason "${reason}": one of ${REASONS.join(', ')}`);
    body.reason = reason as Reason;
  }
  const at = one(o, 'at');
  const downAtMs = at === undefined ? undefined : parseIsoDate('at', at);
  if (downAtMs !== undefined) body.downAt = new Date(downAtMs).toISOString();
  const until = one(o, 'until');
  const forText = one(o, 'for');
  let upAtMs: number | undefined;
  if (until !== undefined) {
    upAtMs = parseIsoDate('until', until);
    if (upAtMs <= now.getTime()) throw new UsageError(`--until ${until} is not in the future`);
  } else if (forText !== undefined) {
    upAtMs = (downAtMs ?? now.getTime()) + parseDuration(forText);
  }
  if (upAtMs !== undefined) {
    if (downAtMs !== undefined && upAtMs <= downAtMs) throw new UsageError('--until must be later than --at');
    body.expectedUpAt = new Date(upAtMs).toISOString();
  }
  if (o.values.has('auto-restore')) {
    if (upAtMs === undefined) throw new UsageError('--auto-restore needs --until or --for');
    body.autoRestore = true;
  }
  const message = one(o, 'message');
  if (message !== undefined) {
    if (message.length > MAX_MESSAGE) throw new UsageError(`--message is ${message.length} characters; at most ${MAX_MESSAGE}`);
    body.message = message;
  }
  const component = one(o, 'component');
  if (component !== undefined) body.component = component;
  const kinds = kindsOf(o);
  if (kinds) body.requestKinds = kinds;
  const priority = one(o, 'priority');
  if (priority !== undefined) {
    if (!/^\d$/.test(priority)) throw new UsageError(`bad --priority "${priority}": an integer 0-9`);
    body.priority = Number(priority);
  }
  const notifierUrl = parseHttpUrl('notifier', one(o, 'notifier') ?? (env.NOTIFIER_URL || DEFAULT_NOTIFIER_URL));
  return { command: 'notify', credential: credentialOf(o, env), notifierUrl, json: o.values.has('json'), body };
}

function parseStatus(o: RawOptions, env: FarmctlEnv): StatusCommand {
  rejectOptions(o, TOKEN_ONLY, 'only apply to token create');
  rejectOptions(o, NOTIFY_ONLY, 'only apply to notify');
  rejectOptions(o, SERVERS_ONLY, 'only apply to servers');
  const nodeUrl = parseHttpUrl('node', one(o, 'node') ?? (env.REPEATER_URL || DEFAULT_NODE_URL));
  const cmd: StatusCommand = { command: 'status', credential: credentialOf(o, env), nodeUrl, json: o.values.has('json') };
  const target = one(o, 'target');
  const kinds = kindsOf(o);
  if (kinds && kinds.length > 1) throw new UsageError('status takes one --kind');
  if (target === undefined) {
    if (kinds) throw new UsageError('--kind needs --target');
    return cmd;
  }
  if (target === '') throw new UsageError('--target must not be empty');
  cmd.target = target;
  if (kinds) cmd.kind = kinds[0];
  return cmd;
}

function parseServers(o: RawOptions, env: FarmctlEnv): ServersCommand {
  rejectOptions(o, [...NOTIFY_ONLY, ...STATUS_ONLY, ...TOKEN_ONLY, 'target', 'kind'], 'do not apply to servers');
  const pollerUrl = parseHttpUrl('poller', one(o, 'poller') ?? (env.POLLER_URL || DEFAULT_POLLER_URL));
  const server = one(o, 'server');
  if (server === '') throw new UsageError('--server must not be empty');
  const poll = o.values.has('poll');
  if (poll && server === undefined) throw new UsageError('--poll needs --server');
  return { command: 'servers', credential: credentialOf(o, env), pollerUrl, json: o.values.has('json'), server, poll };
}

function parseTokenCreate(o: RawOptions): TokenCreateCommand {
  rejectOptions(o, [...NOTIFY_ONLY, ...STATUS_ONLY, ...SERVERS_ONLY, 'target', 'kind', 'token-file'], 'do not apply to token create');
  const name = one(o, 'name');
  if (name === undefined) throw new UsageError('--name is required');
  if (!TOKEN_NAME.test(name)) throw new UsageError(`bad --name "${name}": 1-64 of [A-Za-z0-9_.@-]`);
  const list = one(o, 'scopes');
  if (list === undefined) throw new UsageError(`--scopes is required (${SCOPES.join(', ')})`);
  try {
    return { command: 'token-create', name, scopes: parseScopes(list), json: o.values.has('json') };
  } catch (err) {
    if (err instanceof ConfigError) throw new UsageError(`bad --scopes: ${err.message}`);
    throw err;
  }
}

/** Parses the arguments after `farmctl` (process.argv.slice(2)); `now` anchors `--for`. */
export function parseFarmctlArgs(argv: readonly string[], now: Date, env: FarmctlEnv = {}): FarmctlCommand {
  if (argv.length === 0) throw new UsageError('a command is required');
  const o = tokenize(argv);
  if (o.values.has('help') || o.positionals[0] === 'help') return { command: 'help' };
  const [command, ...extra] = o.positionals;
  if (command === undefined) throw new UsageError('a command is required');
  if (command === 'token') {
    if (extra[0] !== 'create') throw new UsageError(extra[0] === undefined ? 'token needs a subcommand: create' : `unknown token subcommand "${extra[0]}"`);
    if (extra.length > 1) throw new UsageError(`unexpected argument "${extra[1]}"`);
    return parseTokenCreate(o);
  }
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
  if (command === 'notify') return parseNotify(o, now, env);
  if (command === 'status') return parseStatus(o, env);
  if (command === 'servers') return parseServers(o, env);
  throw new UsageError(`unknown command "${command}"`);
}
