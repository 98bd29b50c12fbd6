import { Controller, Get, Inject, Injectable, Provider, Res, ServiceUnavailableException } from '@nestjs/common';
import { HealthCheckResult, HealthCheckService, HealthIndicatorResult, HealthIndicatorService, TerminusModule } from '@nestjs/terminus';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, SchemaObject } from '@nestjs/swagger';
import type { Response } from 'express';
import { PublicRoute } from '../auth/operator.guard';
import { MetricsService } from '../metrics/metrics.service';
import type { AmqpClient } from '../messaging/amqp-client';

/** One thing an app needs to do its work: the broker, Redis, a node's first handshake. */
export interface DependencyCheck {
  /** `broker`, `redis`, `sync`: the name `/v1/health` lists under `degraded`. */
  name: string;
  up(): boolean;
  /** What to show about it, up or down. */
  detail?(): Record<string, unknown>;
}

/** The broker as a dependency: up while connected; down says why when the broker refuses a declaration. */
export function brokerCheck(amqp: AmqpClient): DependencyCheck {
  return {
    name: 'broker',
    up: () => amqp.connected,
    detail: () => ({
      connection: amqp.connected ? 'connected' : 'disconnected',
      ...(amqp.conflict ? { conflict: `${amqp.conflict.kind} '${amqp.conflict.name}': ${amqp.conflict.argument} is ${amqp.conflict.theirs} on the broker, ${amqp.conflict.ours} here` } : {}),
    }),
  };
}

/** The app's dependency checks (a provider each app module defines). */
export const HEALTH_CHECKS = Symbol('HEALTH_CHECKS');

export interface Readiness {
  ready: boolean;
  /** Names of the checks that are down, in the order they were given. */
  down: string[];
  /** terminus's answer: `{status, info, error, details}`. */
  result: HealthCheckResult;
}

/** Readiness by convention: the app's dependency checks run as terminus health indicators. */
@Injectable()
export class FarmHealthService {
  constructor(
    private readonly terminus: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    @Inject(HEALTH_CHECKS) private readonly checks: DependencyCheck[],
  ) {}

  async readiness(): Promise<Readiness> {
    const fns = this.checks.map((c) => (): HealthIndicatorResult => {
      const session = this.indicators.check(c.name);
      const detail = c.detail?.() ?? {};
      return c.up() ? session.up(detail) : session.down(detail);
    });
    try {
      const result = await this.terminus.check(fns);
      return { ready: true, down: [], result };
    } catch (err) {
      if (!(err instanceof ServiceUnavailableException)) throw err;
      const result = err.getResponse() as HealthCheckResult;
      return { ready: false, down: this.checks.filter((c) => result.error?.[c.name] !== undefined).map((c) => c.name), result };
    }
  }
}

const TERMINUS_ANSWER: SchemaObject = { type: 'object', properties: { status: { type: 'string', enum: ['ok', 'error'] }, info: { type: 'object' }, error: { type: 'object' }, details: { type: 'object' } } };

/**
 * Liveness and readiness for orchestrators (Kubernetes probes, compose health checks), open
 * without a token: `live` answers 200 while the process serves HTTP at all; `ready` answers 200
 * when every dependency check is up, else 503, in terminus's shape.
 */
@Controller('v1/health')
@PublicRoute()
export class ProbesController {
  constructor(
    private readonly health: FarmHealthService,
    private readonly metrics: MetricsService,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness probe', description: '200 while the process serves HTTP at all.' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] }, uptimeSeconds: { type: 'integer' } }, required: ['status', 'uptimeSeconds'] } })
  live(): { status: 'ok'; uptimeSeconds: number } {
    return { status: 'ok', uptimeSeconds: Math.round(process.uptime()) };
  }

  @Get('load')
  @ApiOperation({
    summary: 'This process\'s load',
    description: 'What a monitoring attendant reads as the server\'s own load (issue 12): HTTP requests in flight now and their limit (`HTTP_MAX_IN_FLIGHT`; beyond it requests get 503), and the share of the last second the event loop was busy.',
  })
  @ApiOkResponse({ schema: { type: 'object', properties: { inFlight: { type: 'integer', minimum: 0 }, limit: { type: 'integer', minimum: 1 }, eventLoopUtilization: { type: 'number', minimum: 0, maximum: 1 } }, required: ['inFlight', 'limit', 'eventLoopUtilization'] } })
  load(): { inFlight: number; limit: number; eventLoopUtilization: number } {
    const l = this.metrics.load;
    return { inFlight: l.inFlight(), limit: l.limit, eventLoopUtilization: l.eventLoopUtilization };
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness probe', description: 'terminus\'s `{status, info, error, details}` over the app\'s dependency indicators.' })
  @ApiOkResponse({ description: 'Every dependency indicator is up.', schema: TERMINUS_ANSWER })
  @ApiServiceUnavailableResponse({ description: 'An indicator is down; `error` names it.', schema: TERMINUS_ANSWER })
  async ready(@Res() res: Response): Promise<void> {
    const r = await this.health.readiness();
    res.status(r.ready ? 200 : 503).json(r.result);
  }
}

/**
 * What an app module adds for health: terminus, the probes controller, and the service its own
 * `/v1/health` uses; `checks` builds the app's dependency checks from the providers named in `inject`.
 */
export function farmHealth(checks: (...deps: never[]) => DependencyCheck[], inject: (string | symbol | (abstract new (...args: never[]) => unknown))[]): {
  imports: ReturnType<typeof TerminusModule.forRoot>[];
  controllers: (typeof ProbesController)[];
  providers: Provider[];
} {
  return {
    // Our own lines say when a dependency goes away; terminus's would repeat it on every probe.
    imports: [TerminusModule.forRoot({ logger: false })],
    controllers: [ProbesController],
    providers: [{ provide: HEALTH_CHECKS, useFactory: checks, inject }, FarmHealthService],
  };
}
