import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, FarmHealthService, MetricsService, PublicRoute, REDIS } from '@farm/common';
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
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
