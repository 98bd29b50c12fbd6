import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { DestinationStream, Logger as Pino } from 'pino';
import { currentLogContext } from './log-context';
import { LoggerLike, redactSecrets } from './log-text';

export type LogFormat = 'json' | 'pretty';
export const LOG_FORMATS: readonly LogFormat[] = ['json', 'pretty'];
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type FarmLogLevel = (typeof LOG_LEVELS)[number];

export interface FarmLoggerOptions {
  /** notifier, repeater, poller, attendant. */
  app: string;
  /** Who this process is: `{ node: 'node-1' }`, `{ server: 'web-1' }`, `{ poller: 'p1' }`. */
  ids?: Record<string, string>;
  format?: LogFormat;
  level?: FarmLogLevel;
  /** Where lines go; default stdout, written synchronously so a crash loses no line. */
  destination?: DestinationStream;
}

/** Nest's level names onto pino's. */
const FROM_NEST: Record<LogLevel, FarmLogLevel> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

/**
 * The farm's logger: one JSON line per event (pino), with `level`, `time`, `app`, the process's
 * id (`node`, `server`...), the Nest context, `msg`, and the request or message id it concerns
 * (from `withLogContext`); secrets redacted from every message and stack. `pretty` prints the
 * same fields as short text lines for people (the local farm). It is Nest's logger too
 * (`NestFactory.create(..., { logger })`), so `new Logger('Ctx')` anywhere writes through it.
 */
export class FarmLogger implements LoggerService {
  private readonly pino: Pino;

  constructor(opts: FarmLoggerOptions) {
    const destination = opts.destination ?? pino.destination({ dest: 1, sync: true });
    this.pino = pino(
      {
        level: opts.level ?? 'info',
        base: { app: opts.app, ...opts.ids },
        messageKey: 'msg',
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        mixin: () => ({ ...currentLogContext() }),
      },
      opts.format === 'pretty' ? prettyStream(destination) : destination,
    );
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params, true);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params, true);
  }

  /** Nest's `setLogLevels`: the least severe of the levels given becomes the threshold. */
  setLogLevels(levels: LogLevel[]): void {
    const mapped = levels.map((l) => FROM_NEST[l]).filter(Boolean);
    const least = LOG_LEVELS.filter((l) => mapped.includes(l)).pop();
    if (least) this.pino.level = least;
  }

  /** A context-bound logger for library code that takes a `LoggerLike`. */
  forContext(context: string): LoggerLike {
    return { log: (m) => this.log(m, context), warn: (m) => this.warn(m, context), error: (m) => this.error(m, context) };
  }

  /** Writes anything buffered (a no-op with the default synchronous destination). */
  flush(): void {
    this.pino.flush();
  }

  /**
   * Nest calls `log(message, context)` and `error(message, stack, context)`; a last string
   * parameter is the context, a string before it (errors only) the stack.
   */
  private write(level: FarmLogLevel, message: unknown, params: unknown[], mayHaveStack = false): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const rest = params.filter((p) => p !== undefined && p !== null);
    const context = rest.length > 0 && typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    let stack = mayHaveStack && typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    let msg: string;
    if (message instanceof Error) {
      msg = message.message;
      stack ??= message.stack;
    } else if (typeof message === 'string') {
      msg = message;
    } else {
      msg = safeJson(message);
    }
    const fields: Record<string, unknown> = {};
    if (context) fields.context = context;
    if (stack) fields.stack = redactSecrets(stack);
    if (rest.length > 0) fields.extra = redactSecrets(safeJson(rest));
    this.pino[level](fields, redactSecrets(msg));
  }
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

const PRETTY_SKIP = new Set(['level', 'time', 'app', 'context', 'msg', 'pid', 'hostname']);

/** One JSON line as people read it: `12:00:01.234 WARN  repeater node=n1 [AMQP] message reqId=…`. */
export function prettyLine(json: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const time = typeof o.time === 'string' ? o.time.slice(11, 23) : '';
  const extras = Object.entries(o)
    .filter(([k]) => !PRETTY_SKIP.has(k) && k !== 'stack')
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  const head = `${time} ${String(o.level ?? '').toUpperCase().padEnd(5)} ${String(o.app ?? '')}`;
  const body = `${o.context ? `[${String(o.context)}] ` : ''}${String(o.msg ?? '')}`;
  const stack = typeof o.stack === 'string' ? `\n${o.stack}` : '';
  return `${head} ${extras.join(' ')}${extras.length ? ' ' : ''}${body}${stack}\n`;
}

function prettyStream(destination: DestinationStream): DestinationStream {
  return { write: (line: string) => destination.write(prettyLine(line.trimEnd())) };
}
