import { Controller, Get, Header, Res } from '@nestjs/common';
import type { Response } from 'express';
import { MetricsService } from '@farm/common';
import { NotificationPublisher } from '../publishing/notification-publisher.service';

@Controller()
export class HealthController {
  constructor(
    private readonly publisher: NotificationPublisher,
    private readonly metrics: MetricsService,
  ) {}

  @Get('v1/health')
  health(@Res() res: Response): void {
    // The notifier's one dependency for accepting notifications is the broker (Redis only carries its clock correction).
    const up = this.publisher.amqp.connected;
    res.status(up ? 200 : 503).json({ status: up ? 'ok' : 'degraded', ...(up ? {} : { degraded: 'broker' }), broker: up ? 'connected' : 'disconnected', lastReconnectMs: this.publisher.amqp.lastReconnectMs });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
