import { INestApplication, Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import express, { NextFunction, Request, Response } from 'express';
import { loadEnv } from '../config/env';
import { ConfigError } from '../domain/errors';
import { MAX_NOTIFICATION_BYTES } from '../contracts/notification.dto';
import { FarmExceptionFilter } from './farm-exception.filter';
import { closeGracefully } from './graceful-close';
import { serveOpenApi } from './openapi';
import { FarmLogger, FarmLogLevel, LogFormat } from '../logging/farm-logger';
import { requestIds } from '../logging/log-context';
import { FarmServer } from '../transport/farm-server';
import { MetricsService } from '../metrics/metrics.service';
import { EventLoopMeter, InFlightLimiter } from './in-flight';

/**
 * Shared bootstrap of every app: validated configuration first (a bad value stops the process
 * with a message naming the variable), raw bodies so HTTP and AMQP share one validator, the
 * contract's error answers, the OpenAPI document (`/openapi.json`, `/docs`), shutdown hooks with
 * an HTTP close that busy keep-alive clients cannot hold up, and a line saying where to look.
 */
export interface BootstrapOptions {
  /** The app serves messages through the farm transport (its module provides FarmServer and FARM_ROUTES). */
  transport?: boolean;
}

export async function bootstrapHttp<E extends AppEnv>(name: string, envClass: new () => E, makeModule: (env: E) => unknown, options: BootstrapOptions = {}): Promise<INestApplication> {
  const log = new Logger(name);
  let module: unknown;
  let listenPort: number;
  let maxInFlight: number;
  let logger: FarmLogger;
  let authOff: boolean;
  try {
    const env = loadEnv(envClass);
    logger = new FarmLogger({ app: name, ids: processIds(env), format: env.FARM_LOG_FORMAT, level: env.LOG_LEVEL });
    module = makeModule(env);
    listenPort = env.HTTP_PORT ?? 0;
    maxInFlight = env.HTTP_MAX_IN_FLIGHT ?? 1000;
    authOff = env.FARM_AUTH === 'off';
  } catch (err) {
    if (err instanceof ConfigError) {
      // Configuration is what failed, the log format included: a JSON line with the defaults.
      new FarmLogger({ app: name, ids: processIds(process.env) }).fatal(err.message, 'Config');
      process.exit(78);
    }
    throw err;
  }
  logCrashes(logger);
  if (authOff) logger.warn('FARM_AUTH=off: no operator token and no command signature is checked; anyone who reaches this process may change the farm (development only)', 'Auth');
  const app = await NestFactory.create(module as never, { bodyParser: false, logger });
  app.use(requestIds);
  watchLoad(app, maxInFlight);
  app.use(requireJsonBodies);
  app.use(express.raw({ type: () => true, limit: MAX_NOTIFICATION_BYTES }));
  app.useGlobalFilters(new FarmExceptionFilter());
  serveOpenApi(app, name);
  app.enableShutdownHooks();
  closeGracefully(app.getHttpServer());
  if (options.transport) {
    // Consumers exist (paused or not) before the app's start-up hooks run, which start the connection.
    app.connectMicroservice({ strategy: app.get(FarmServer) });
    await app.startAllMicroservices();
  }
  await app.listen(listenPort, '0.0.0.0');
  const url = await app.getUrl();
  log.log(`${name} listening on ${url.replace('[::1]', '127.0.0.1').replace('0.0.0.0', '127.0.0.1')}`);
  return app;
}

/**
 * A crash is one JSON line too: an uncaught exception or unhandled rejection is logged as fatal,
 * then the process exits with 1, as Node would have (but with a line a log pipeline can parse).
 * Node's process warnings (deprecations and the like) become warn lines instead of stderr text.
 */
function logCrashes(logger: FarmLogger): void {
  process.removeAllListeners('warning');
  process.on('warning', (w) => logger.warn(`${w.name}: ${w.message}`, 'Process'));
  const die = (what: string) => (err: unknown) => {
    logger.fatal(`${what}: ${err instanceof Error ? err.message : String(err)}`, err instanceof Error ? err.stack : undefined, 'Process');
    logger.flush();
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled rejection'));
}

/**
 * The process's load, as a monitoring attendant reads it from /metrics: requests in flight and
 * their limit (beyond which requests are shed with 503), and the event loop's utilisation.
 */
function watchLoad(app: INestApplication, maxInFlight: number): void {
  const metrics = app.get(MetricsService, { strict: false });
  const limiter = new InFlightLimiter(maxInFlight, () => metrics.httpShed.inc());
  metrics.httpInFlightLimit.set(maxInFlight);
  app.use(limiter.middleware);
  metrics.load.inFlight = () => limiter.current;
  metrics.load.limit = maxInFlight;
  new EventLoopMeter().start(1000, (u) => {
    metrics.load.eventLoopUtilization = u;
    metrics.eventLoopUtilization.set(u);
  });
}

/** What bootstrap reads of an app's environment. */
export interface AppEnv {
  HTTP_PORT?: number;
  HTTP_MAX_IN_FLIGHT?: number;
  FARM_AUTH?: 'on' | 'off';
  FARM_LOG_FORMAT?: LogFormat;
  LOG_LEVEL?: FarmLogLevel;
  NODE_ID?: string;
  SERVER_ID?: string;
  POLLER_ID?: string;
}

/** The ids that say which process wrote a line: a node, the server an attendant watches, a poller. */
export function processIds(env: { NODE_ID?: string; SERVER_ID?: string; POLLER_ID?: string }): Record<string, string> {
  const ids: Record<string, string> = {};
  if (env.NODE_ID) ids.node = env.NODE_ID;
  else if (env.SERVER_ID) ids.server = env.SERVER_ID;
  if (env.POLLER_ID) ids.poller = env.POLLER_ID;
  return ids;
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
