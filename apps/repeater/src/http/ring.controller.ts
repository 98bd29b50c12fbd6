import { BadRequestException, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { FarmCommand, PublicRoute, RING_PROBE, RING_REPLACE, RingService, RingView } from '@farm/common';

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function id(value: string | undefined, name: string): string {
  if (!value || !ID.test(value)) throw new BadRequestException({ errors: [{ field: name, message: `${name} must be a node id` }] });
  return value;
}

/** The buddy ring: the table, the pings buddies send each other, and the messages they exchange. */
@Controller('v1')
export class RingController {
  constructor(private readonly ring: RingService) {}

  @Get('ring')
  view(): Promise<RingView> {
    return this.ring.view();
  }

  /** What this node's watcher has done (pings sent, nodes declared dead, self-suspicions). */
  @Get('ring/stats')
  stats(): Record<string, unknown> {
    return { ...this.ring.watcher.stats };
  }

  /** A buddy's direct probe: liveness, open like the health probes. */
  @Get('ring/ping')
  @PublicRoute()
  ping(): { ok: true } {
    return { ok: true };
  }

  /** The indirect probe: a buddy of `target` asks this node to try it too. */
  @Post('ring/probe')
  @FarmCommand(RING_PROBE)
  @HttpCode(200)
  async probe(@Query('target') target?: string): Promise<{ target: string; alive: boolean }> {
    const t = id(target, 'target');
    return { target: t, alive: await this.ring.probe(t) };
  }

  /** The replace message: take `next` instead of `old` among this node's buddies. */
  @Post('ring/replace')
  @FarmCommand(RING_REPLACE)
  @HttpCode(200)
  async replace(@Query('old') old?: string, @Query('next') next?: string): Promise<{ ok: true }> {
    await this.ring.watcher.onReplace(id(old, 'old'), id(next, 'next'));
    return { ok: true };
  }

  @Get('servers/live')
  async live(): Promise<{ servers: { id: string; address: string }[] }> {
    return { servers: await this.ring.live() };
  }
}
