import { Controller, Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { ApiHealthReport, ApiMetricsScrape, FarmHealthService, MetricsService, PublicRoute } from '@farm/common';
import { NotificationPublisher } from '../publishing/notification-publisher.service';

@Controller()
export class HealthController {
  constructor(
    private readonly publisher: NotificationPublisher,
    private readonly metrics: MetricsService,
    private readonly health: FarmHealthService,
  ) {}

  @Get('v1/health')
  @PublicRoute()
  @ApiHealthReport('The notifier needs the broker.', {
    broker: { type: 'string', enum: ['connected', 'disconnected'] },
    lastReconnectMs: { type: 'number', description: 'How long the last reconnection to the broker took (0: none yet).' },
  })
  async report(@Res() res: Response): Promise<void> {
    const r = await this.health.readiness();
    res.status(r.ready ? 200 : 503).json({
      status: r.ready ? 'ok' : 'degraded',
      ...(r.ready ? {} : { degraded: r.down.join(',') }),
      broker: this.publisher.amqp.connected ? 'connected' : 'disconnected',
      lastReconnectMs: this.publisher.amqp.lastReconnectMs,
      checks: r.result.details,
    });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  @ApiMetricsScrape('Publishes and their confirms, connections.')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
