import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';

/** What a log line is about, beyond the process: the HTTP request or the message being handled. */
export interface LogContext {
  /** The HTTP request (`x-request-id`, taken from the caller or made up). */
  reqId?: string;
  /** The AMQP message (its `messageId`, or the notification id it carries). */
  msgId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `ctx` attached to every line logged from it, across awaits. */
export function withLogContext<T>(ctx: LogContext, fn: () => T): T {
  return storage.run({ ...storage.getStore(), ...ctx }, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

/** A caller's request id is kept only when it is short and plain; anything else is replaced. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * Express middleware: every request gets an id (the caller's `x-request-id` when it is plain,
 * else a new one), answered in `x-request-id` and attached to every line logged while serving it.
 */
export function requestIds(req: Request, res: Response, next: NextFunction): void {
  const given = req.headers['x-request-id'];
  const reqId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('x-request-id', reqId);
  withLogContext({ reqId }, next);
}
