import { Controller, Get, Header } from '@nestjs/common';
import { ApiMetricsScrape, MetricsService } from '@farm/common';

@Controller()
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  @ApiMetricsScrape('Applied entries by path, apply lag, dead letters, publishes, handshakes, connections, Redis writes, consumer retries and pauses, expired entries, signed commands.')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
