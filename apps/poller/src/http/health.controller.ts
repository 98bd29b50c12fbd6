import { Controller, Get, Header, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, MetricsService, REDIS } from '@farm/common';
import { PollerService } from '../polling/poller.service';

@Controller()
export class HealthController {
  constructor(
    private readonly poller: PollerService,
    private readonly metrics: MetricsService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  @Get('v1/health')
  health(@Res() res: Response): void {
    const degraded = [...(this.amqp.connected ? [] : ['broker']), ...(this.redis.status === 'ready' && this.poller.redisTrouble === undefined ? [] : ['redis'])];
    const ok = degraded.length === 0;
    res.status(ok ? 200 : 503).json({
      status: ok ? 'ok' : 'degraded',
      ...(ok ? {} : { degraded: degraded.join(',') }),
      role: this.poller.active ? 'active' : 'standby',
      broker: this.amqp.connected ? 'connected' : 'disconnected',
      redis: this.redis.status,
      servers: this.poller.engine.records.size,
      outbox: this.poller.engine.appHealth.outbox.length,
    });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
