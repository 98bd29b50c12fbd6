import { BadRequestException, ConflictException, Controller, Get, HttpCode, Post, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiOkResponse, ApiOperation, ApiQuery } from '@nestjs/swagger';
import { AccessDeniedError, ApiFieldErrors, CommandSender, FarmCommand, PublicRoute, RING_PROBE, RING_REPLACE, RingService, RingView, objectSchema } from '@farm/common';

const ID = /^[A-Za-z0-9_-]{1,64}$/;
const nodeQuery = (name: string, description: string) => ApiQuery({ name, required: true, schema: { type: 'string', pattern: ID.source }, description });
const liveServer = objectSchema({ id: { type: 'string' }, address: { type: 'string', description: 'Where peers and people reach the node (NODE_ADDRESS).' } });

function id(value: string | undefined, name: string): string {
  if (!value || !ID.test(value)) throw new BadRequestException({ errors: [{ field: name, message: `${name} must be a node id` }] });
  return value;
}

/** The buddy ring: the table, the pings buddies send each other, and the messages they exchange. */
@Controller('v1')
export class RingController {
  constructor(private readonly ring: RingService) {}

  @Get('ring')
  @ApiOperation({ summary: 'The buddy ring', description: 'The server table with each node\'s two buddies, the ring in cycle order, and whether the table is consistent.' })
  @ApiOkResponse({
    schema: objectSchema({
      servers: { type: 'array', items: objectSchema({ id: { type: 'string' }, address: { type: 'string' }, buddyA: { type: 'string' }, buddyB: { type: 'string' } }) },
      ring: { type: 'array', items: { type: 'string' }, description: 'Node ids in cycle order.' },
      consistent: { type: 'boolean' },
    }),
  })
  view(): Promise<RingView> {
    return this.ring.view();
  }

  /** What this node's watcher has done (pings sent, nodes declared dead, self-suspicions). */
  @Get('ring/stats')
  @ApiOperation({ summary: 'What this node\'s ring watcher has done', description: 'Rounds, pings sent, nodes declared dead, self-suspicions.' })
  @ApiOkResponse({ schema: { type: 'object', additionalProperties: { type: 'number' } } })
  stats(): Record<string, unknown> {
    return { ...this.ring.watcher.stats };
  }

  /** A buddy's direct probe: liveness, open like the health probes. */
  @Get('ring/ping')
  @PublicRoute()
  @ApiOperation({ summary: 'A buddy\'s direct probe', description: 'Liveness between buddies.' })
  @ApiOkResponse({ schema: objectSchema({ ok: { type: 'boolean', enum: [true] } }) })
  ping(): { ok: true } {
    return { ok: true };
  }

  /** The indirect probe: a buddy of `target` asks this node to try it too. */
  @Post('ring/probe')
  @FarmCommand(RING_PROBE)
  @HttpCode(200)
  @ApiOperation({ summary: 'The indirect probe', description: 'A buddy of `target` that got no answer asks this node to ping it too.' })
  @nodeQuery('target', 'The node to ping.')
  @ApiOkResponse({ schema: objectSchema({ target: { type: 'string' }, alive: { type: 'boolean' } }) })
  @ApiFieldErrors(400, '`target` is missing or not a node id.')
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
  @ApiOperation({
    summary: 'The replace message',
    description: 'After a cut or a leave: this node takes `next` instead of `old` among its buddies, if the ring table agrees (`old` is gone, `next` is in it, and a signed sender is `old` or `next`).',
  })
  @nodeQuery('old', 'The buddy to drop.')
  @nodeQuery('next', 'The buddy to take instead.')
  @ApiOkResponse({ schema: objectSchema({ ok: { type: 'boolean', enum: [true] }, changed: { type: 'boolean', description: 'Whether the table changed (false: it already said so).' } }) })
  @ApiFieldErrors(400, '`old` or `next` is missing or not a node id.')
  @ApiConflictResponse({ description: 'The ring table contradicts the message (`{error: "conflict", reason, message}`; reason `old-still-in-table`, `next-not-in-table`, `receiver-not-in-table`); nothing changed.' })
  async replace(@Query('old') old?: string, @Query('next') next?: string, @CommandSender() sender?: string): Promise<{ ok: true; changed: boolean }> {
    const v = await this.ring.replace(id(old, 'old'), id(next, 'next'), sender);
    if (v.ok) return { ok: true, changed: v.changes };
    if (v.reason === 'sender-not-a-party') throw new AccessDeniedError(403, v.reason, v.message);
    throw new ConflictException({ error: 'conflict', reason: v.reason, message: v.message });
  }

  @Get('servers/live')
  @ApiOperation({ summary: 'The nodes in the ring table' })
  @ApiOkResponse({ schema: objectSchema({ servers: { type: 'array', items: liveServer } }) })
  async live(): Promise<{ servers: { id: string; address: string }[] }> {
    return { servers: await this.ring.live() };
  }
}
