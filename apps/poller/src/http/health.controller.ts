import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, ApiHealthReport, ApiMetricsScrape, FarmHealthService, MetricsService, PublicRoute, REDIS } from '@farm/common';
import { PollerService } from '../polling/poller.service';

@Controller()
export class HealthController {
  constructor(
    private readonly poller: PollerService,
    private readonly metrics: MetricsService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly health: FarmHealthService,
  ) {}

  @Get('v1/health')
  @PublicRoute()
  @ApiHealthReport('The poller needs the broker and Redis. A standby poller is healthy too.', {
    role: { type: 'string', enum: ['active', 'standby'] },
    broker: { type: 'string', enum: ['connected', 'disconnected'] },
    redis: { type: 'string', description: 'The Redis client\'s status (`ready` when usable).' },
    servers: { type: 'integer', description: 'Servers known.' },
    outbox: { type: 'integer', description: 'Notifications waiting for the broker.' },
  })
  async report(@Res() res: Response): Promise<void> {
    const r = await this.health.readiness();
    res.status(r.ready ? 200 : 503).json({
      status: r.ready ? 'ok' : 'degraded',
      ...(r.ready ? {} : { degraded: r.down.join(',') }),
      role: this.poller.active ? 'active' : 'standby',
      broker: this.amqp.connected ? 'connected' : 'disconnected',
      redis: this.redis.status,
      servers: this.poller.engine.records.size,
      outbox: this.poller.engine.appHealth.outbox.length,
      checks: r.result.details,
    });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  @ApiMetricsScrape('Polls by outcome, poll time, servers per list, notifications, clock corrections.')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
