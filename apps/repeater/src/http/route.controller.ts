import { BadRequestException, Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery } from '@nestjs/swagger';
import Redis from 'ioredis';
import { Alternate, ClockFollower, FARM_CLOCK, NODE_ENV, NodeEnv, REDIS, RingService, monitoringKeys, objectSchema, parsePublishedLoads, routableServers } from '@farm/common';

/** Reports older than this are not trusted: an attendant that stopped publishing may be in trouble. */
const MAX_REPORT_AGE_MS = 10_000;
const ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Where a client should go (issue 12: never routed to a dead server): the servers that are live
 * in the ring's table and whose attendant's latest report, fresh, says accept; lowest score first.
 */
@Controller('v1')
export class RouteController {
  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(FARM_CLOCK) private readonly clock: ClockFollower,
    private readonly ring: RingService,
  ) {}

  @Get('route')
  @ApiOperation({
    summary: 'Servers a client may use, best first',
    description: 'Live in the ring table and in the accept zone by their attendant\'s latest report (at most 10 s old), lowest load score first; `exclude` leaves out the server the client is leaving. Empty when none qualifies: the client then uses its own list.',
  })
  @ApiQuery({ name: 'exclude', required: false, schema: { type: 'string', pattern: ID.source } })
  @ApiOkResponse({ schema: objectSchema({ servers: { type: 'array', items: objectSchema({ id: { type: 'string' }, address: { type: 'string' }, score: { type: 'number' } }) } }) })
  async route(@Query('exclude') exclude?: string): Promise<{ servers: Alternate[] }> {
    if (exclude !== undefined && !ID.test(exclude)) throw new BadRequestException({ errors: [{ field: 'exclude', message: 'exclude must be a server id' }] });
    const [values, table] = await Promise.all([this.redis.hvals(monitoringKeys(this.env.FARM_NAMESPACE).load), this.ring.repo.read()]);
    return { servers: routableServers(parsePublishedLoads(values), table, { exclude, maxAgeMs: MAX_REPORT_AGE_MS, now: this.clock.clock.now() }) };
  }
}
