import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, AvailabilityService, LifecycleService, REDIS, StateStoreService } from '@farm/common';

@Controller('v1')
export class HealthController {
  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly store: StateStoreService,
    private readonly availability: AvailabilityService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
  ) {}

  /**
   * 200 once connected and synced; 503 otherwise, with `status` `syncing` or `degraded` and
   * `degraded` naming what the node cannot use (`broker`, `redis`, comma-separated). Lookups keep
   * answering from the cache meanwhile.
   */
  @Get('health')
  health(@Res() res: Response): void {
    const l = this.lifecycle;
    const degraded = l.degraded;
    const status = l.status === 'ready' ? (degraded.length === 0 ? 'ok' : 'degraded') : l.status;
    res.status(l.healthy ? 200 : 503).json({
      status,
      ...(degraded.length > 0 ? { degraded: degraded.join(',') } : {}),
      redisWrites: this.store.writeTrouble === undefined ? 'ok' : `failing: ${this.store.writeTrouble.slice(0, 200)}`,
      pausedByTrouble: this.amqp.troubledQueues(),
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
