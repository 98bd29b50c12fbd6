import { Controller, Get, Inject, Res } from '@nestjs/common';
import type { Response } from 'express';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, ApiHealthReport, AvailabilityService, FarmHealthService, LifecycleService, PublicRoute, QueueUpgradeService, REDIS, StateStoreService } from '@farm/common';

@Controller('v1')
export class HealthController {
  constructor(
    private readonly lifecycle: LifecycleService,
    private readonly store: StateStoreService,
    private readonly availability: AvailabilityService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly health: FarmHealthService,
    private readonly upgrade: QueueUpgradeService,
  ) {}

  /**
   * 200 once connected and synced; 503 otherwise, with `status` `syncing` or `degraded` and
   * `degraded` naming what the node cannot use (`broker`, `redis`, comma-separated). Lookups keep
   * answering from the cache meanwhile.
   */
  @Get('health')
  @PublicRoute()
  @ApiHealthReport('200 once connected and synced; 503 while `syncing`, or `degraded` with `degraded` naming `broker` and/or `redis` (away or refusing writes). Lookups keep answering from the cache meanwhile.', {
    redisWrites: { type: 'string', description: '`ok`, or `failing: <why>`.' },
    pausedByTrouble: { type: 'array', items: { type: 'string' }, description: 'Queues whose consumers wait for a dependency.' },
    upgrading: { type: 'array', items: { type: 'string' }, description: 'Queues of an earlier version (with priorities) this node still drains before replacing them.' },
    nodeId: { type: 'string' },
    broker: { type: 'string', enum: ['connected', 'disconnected'] },
    redis: { type: 'string', description: 'The Redis client\'s status (`ready` when usable).' },
    entries: { type: 'integer' },
    digest: { type: 'string' },
    restored: { type: 'integer', description: 'Entries restored from Redis at start.' },
    startupMs: { type: 'number', nullable: true },
    lastReconnectMs: { type: 'number' },
  })
  async report(@Res() res: Response): Promise<void> {
    const l = this.lifecycle;
    const r = await this.health.readiness();
    const degraded = r.down.filter((d) => d !== 'sync');
    const status = l.status === 'ready' ? (degraded.length === 0 ? 'ok' : 'degraded') : l.status;
    res.status(r.ready ? 200 : 503).json({
      status,
      ...(degraded.length > 0 ? { degraded: degraded.join(',') } : {}),
      redisWrites: this.store.writeTrouble === undefined ? 'ok' : `failing: ${this.store.writeTrouble.slice(0, 200)}`,
      pausedByTrouble: this.amqp.troubledQueues(),
      upgrading: this.upgrade.pending,
      nodeId: this.availability.nodeId,
      broker: this.amqp.connected ? 'connected' : 'disconnected',
      redis: this.redis.status,
      entries: this.availability.state.count,
      digest: this.availability.state.digest(),
      restored: l.restored,
      startupMs: l.startupMs,
      lastReconnectMs: this.amqp.lastReconnectMs,
      checks: r.result.details,
    });
  }
}
