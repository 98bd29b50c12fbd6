import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, AvailabilityService, LifecycleService, REDIS } from '@farm/common';

@Controller('v1')
export class HealthController {
  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly availability: AvailabilityService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /** 200 once connected and synced; 503 with `syncing` or `degraded` otherwise. */
  @Get('health')
  health(@Res() res: Response): void {
    const l = this.lifecycle;
    const status = l.status === 'ready' ? (l.healthy ? 'ok' : 'degraded') : l.status;
    res.status(l.healthy ? 200 : 503).json({
      status,
      nodeId: this.availability.nodeId,
      broker: this.amqp.connected ? 'connected' : 'disconnected',
      redis: this.redis.status,
      entries: this.availability.state.count,
      digest: this.availability.state.digest(),
      restored: l.restored,
      startupMs: l.startupMs,
      lastReconnectMs: this.amqp.lastReconnectMs,
    });
  }
}
