import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express, { NextFunction, Request, Response } from 'express';
import { loadEnv } from '../config/env';
import { ConfigError } from '../domain/errors';
import { MAX_NOTIFICATION_BYTES } from '../contracts/notification.dto';
import { FarmExceptionFilter } from './farm-exception.filter';
import { closeGracefully } from './graceful-close';

/**
 * Shared bootstrap of every app: validated configuration first (a bad value stops the process
 * with a message naming the variable), raw bodies so HTTP and AMQP share one validator, the
 * contract's error answers, shutdown hooks with an HTTP close that busy keep-alive clients
 * cannot hold up, and a line saying where to look.
 */
export async function bootstrapHttp<E extends { HTTP_PORT?: number }>(name: string, envClass: new () => E, makeModule: (env: E) => unknown): Promise<INestApplication> {
  const log = new Logger(name);
  let module: unknown;
  let listenPort: number;
  try {
    const env = loadEnv(envClass);
    module = makeModule(env);
    listenPort = env.HTTP_PORT ?? 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${name}: ${err.message}`);
      process.exit(78);
    }
    throw err;
  }
  const app = await NestFactory.create(module as never, { bodyParser: false, logger: ['log', 'warn', 'error'] });
  app.use(requireJsonBodies);
  app.use(express.raw({ type: () => true, limit: MAX_NOTIFICATION_BYTES }));
  app.useGlobalFilters(new FarmExceptionFilter());
  app.enableShutdownHooks();
  closeGracefully(app.getHttpServer());
  await app.listen(listenPort, '0.0.0.0');
  const url = await app.getUrl();
  log.log(`${name} listening on ${url.replace('[::1]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1')}`);
  return app;
}

/** A request that carries a body must say it is JSON: anything else is 415, before the body is read. */
export function requireJsonBodies(req: Request, res: Response, next: NextFunction): void {
  const hasBody = (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (hasBody && type !== 'application/json' && !type.endsWith('+json')) {
    res.status(415).json({ errors: [{ field: '', message: `content type ${JSON.stringify(type || '(none)')} is not accepted; send application/json` }] });
    return;
  }
  next();
}
