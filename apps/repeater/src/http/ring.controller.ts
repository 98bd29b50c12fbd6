import { BadRequestException, ConflictException, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { AccessDeniedError, CommandSender, FarmCommand, PublicRoute, RING_PROBE, RING_REPLACE, RingService, RingView } from '@farm/common';

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

  /**
   * The replace message: take `next` instead of `old` among this node's buddies, if the ring
   * table agrees (see checkReplace). A sender that is neither `old` nor `next` may not ask for
   * it: 403. A message the table contradicts (`old` still in it, `next` or this node not in it):
   * 409, the request being sound but in conflict with the table's current state.
   */
  @Post('ring/replace')
  @FarmCommand(RING_REPLACE)
  @HttpCode(200)
  async replace(@Query('old') old?: string, @Query('next') next?: string, @CommandSender() sender?: string): Promise<{ ok: true; changed: boolean }> {
    const v = await this.ring.replace(id(old, 'old'), id(next, 'next'), sender);
    if (v.ok) return { ok: true, changed: v.changes };
    if (v.reason === 'sender-not-a-party') throw new AccessDeniedError(403, v.reason, v.message);
    throw new ConflictException({ error: 'conflict', reason: v.reason, message: v.message });
  }

  @Get('servers/live')
  async live(): Promise<{ servers: { id: string; address: string }[] }> {
    return { servers: await this.ring.live() };
  }
}
