import { Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ALL_KINDS, AvailabilityService, HandshakeReport, SyncService } from '@farm/common';

/** The node's view of availability: what it holds, a lookup, and the handshake on demand. */
@Controller('v1')
export class AvailabilityController {
  constructor(
    private readonly availability: AvailabilityService,
    private readonly sync: SyncService,
  ) {}

  @Get('availability')
  all(): { nodeId: string; count: number; digest: string; entries: unknown[] } {
    const s = this.availability.state;
    return { nodeId: this.availability.nodeId, count: s.count, digest: s.digest(), entries: s.entries() };
  }

  @Get('availability/:target')
  one(@Param('target') target: string, @Query('kind') kind?: string, @Query('targetType') targetType?: string): Record<string, unknown> {
    const k = kind || ALL_KINDS;
    if (targetType === 'resource') return { target, targetType, kind: k, ...this.availability.state.checkResource(target, k) };
    const d = this.availability.check(target, k);
    return { target, kind: k, ...d, dependsOn: this.availability.state.dependenciesOf(target) };
  }

  @Post('sync')
  @HttpCode(200)
  run(@Query('peers') peers?: string): Promise<HandshakeReport> {
    const list = peers?.split(',').map((p) => p.trim()).filter(Boolean);
    return this.sync.run(list?.length ? list : undefined);
  }
}
