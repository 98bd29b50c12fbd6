import { ConflictException, Controller, Delete, Get, HttpCode, Inject, MessageEvent, NotFoundException, Param, Post, Req, ServiceUnavailableException, Sse } from '@nestjs/common';
import type { Request } from 'express';
import { ApiConflictResponse, ApiExtraModels, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiServiceUnavailableResponse, getSchemaPath } from '@nestjs/swagger';
import { Observable, finalize, map } from 'rxjs';
import { CompilationDto, HttpErrorDto, PollerEnv, ServerRecord, listOf, objectSchema } from '@farm/common';
import { PollerService } from '../polling/poller.service';
import { POLLER_ENV } from '../tokens';
import { SseSlots } from './sse-slots';

function view(r: ServerRecord, full: boolean) {
  const c = r.lastCompilation;
  return {
    id: r.id,
    list: listOf(r.level),
    level: r.level,
    deficiencies: r.deficiencies,
    failures: r.failures,
    listSince: new Date(r.listSince).toISOString(),
    lastPolledAt: r.lastPolledAt ? new Date(r.lastPolledAt).toISOString() : null,
    lastAnswerAt: r.lastAnswerAt ? new Date(r.lastAnswerAt).toISOString() : null,
    nextPollAt: new Date(r.nextPollAt).toISOString(),
    clock: r.clock ?? null,
    load: c?.load ? { score: c.load.score, zone: c.load.zone ?? null, deferred: c.load.deferred ?? [], at: c.load.at } : null,
    ...(full ? { lastCompilation: c ?? null } : { services: c ? c.services.map((s) => ({ name: s.name, status: s.status })) : [] }),
  };
}

const serverView = (full: boolean) =>
  objectSchema({
    id: { type: 'string' },
    list: { type: 'string', enum: ['normal', 'critical'] },
    level: { type: 'integer', description: 'Index in POLL_INTERVALS_MS: 0 normal, 1 critical, then any faster levels.' },
    deficiencies: { type: 'array', items: { type: 'object' }, description: 'What is wrong with the server (kind, service, applications, mandatory, detail).' },
    failures: { type: 'integer', description: 'Consecutive polls that agree on the deficiencies.' },
    listSince: { type: 'string', description: 'ISO-8601.' },
    lastPolledAt: { type: 'string', nullable: true },
    lastAnswerAt: { type: 'string', nullable: true },
    nextPollAt: { type: 'string' },
    clock: { type: 'object', nullable: true, description: 'The last clock sample and correction.' },
    load: {
      ...objectSchema({ score: { type: 'number', minimum: 0, maximum: 100 }, zone: { type: 'string', enum: ['accept', 'hold', 'brief', 'defer'], nullable: true }, deferred: { type: 'array', items: { type: 'string' }, description: 'Clients it told to move and has not invited back yet.' }, at: { type: 'string' } }),
      nullable: true,
      description: 'The server\'s load score and zone from its last compilation (null from an attendant that does not measure it).',
    },
    ...(full
      ? { lastCompilation: { allOf: [{ $ref: getSchemaPath(CompilationDto) }], nullable: true } }
      : { services: { type: 'array', items: objectSchema({ name: { type: 'string' }, status: { type: 'string' } }) } }),
  });
const serverId = ApiParam({ name: 'id', description: 'The server\'s id (an attendant\'s SERVER_ID).', example: 'node-1' });

/** What the poller knows, for people: lists, deficiencies, compilations, and a live feed. */
@Controller('v1')
@ApiExtraModels(CompilationDto)
export class ServersController {
  private readonly feeds: SseSlots;

  constructor(
    private readonly poller: PollerService,
    @Inject(POLLER_ENV) env: PollerEnv,
  ) {
    this.feeds = new SseSlots(env.POLLER_MAX_SSE_CLIENTS);
  }

  /** A standby answers from what the active poller wrote to Redis. */
  private async fresh(): Promise<void> {
    if (!this.poller.active) await this.poller.syncFromStore();
  }

  /** Polling and forgetting change state: only the active poller does them. */
  private async mustBeActive(): Promise<void> {
    if (!this.poller.active) throw new ConflictException(`this poller is standing by; the active poller is ${(await this.poller.leaseHolder()) ?? 'unknown'}`);
  }

  @Get('servers')
  @ApiOperation({ summary: 'Every known server with its list and deficiencies', description: 'A standby poller answers from what the active one wrote to Redis.' })
  @ApiOkResponse({
    schema: objectSchema({
      counts: objectSchema({ normal: { type: 'integer' }, critical: { type: 'integer' } }),
      servers: { type: 'array', items: serverView(false) },
      applicationsDown: { type: 'array', items: { type: 'object' }, description: 'Applications the poller holds unavailable, and why.' },
    }),
  })
  async list() {
    await this.fresh();
    const servers = this.poller.servers().map((r) => view(r, false));
    return {
      counts: { normal: servers.filter((s) => s.list === 'normal').length, critical: servers.filter((s) => s.list === 'critical').length },
      servers,
      applicationsDown: this.poller.engine.appHealth.published,
    };
  }

  @Get('servers/:id')
  @ApiOperation({ summary: 'One server, with its last compilation' })
  @serverId
  @ApiOkResponse({ schema: serverView(true) })
  @ApiNotFoundResponse({ description: 'No such server is known to the poller.', type: HttpErrorDto })
  async one(@Param('id') id: string) {
    await this.fresh();
    const r = this.poller.engine.records.get(id);
    if (!r) throw new NotFoundException(`no server ${id} is known to the poller`);
    return view(r, true);
  }

  /** Polls the server now and answers with the result. */
  @Post('servers/:id/poll')
  @HttpCode(200)
  @ApiOperation({ summary: 'Poll a server now', description: 'Only the active poller polls; answers with the server after the poll.' })
  @serverId
  @ApiOkResponse({ schema: serverView(true) })
  @ApiNotFoundResponse({ description: 'The server is neither registered nor configured.', type: HttpErrorDto })
  @ApiConflictResponse({ description: 'This poller is standing by; the message names the active one.', type: HttpErrorDto })
  async poll(@Param('id') id: string) {
    await this.mustBeActive();
    const r = await this.poller.pollNow(id);
    if (!r) throw new NotFoundException(`no server ${id} is registered or configured`);
    return view(r, true);
  }

  /** Forgets a decommissioned server (a running attendant registers itself again). */
  @Delete('servers/:id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Forget a decommissioned server', description: 'Clears what it alone held down. A running attendant registers itself again.' })
  @serverId
  @ApiNoContentResponse({ description: 'Forgotten.' })
  @ApiNotFoundResponse({ description: 'No such server is known to the poller.', type: HttpErrorDto })
  @ApiConflictResponse({ description: 'This poller is standing by; the message names the active one.', type: HttpErrorDto })
  async remove(@Param('id') id: string): Promise<void> {
    await this.mustBeActive();
    if (!(await this.poller.remove(id))) throw new NotFoundException(`no server ${id} is known to the poller`);
  }

  /**
   * Server-sent events: `server` when a server changes list or deficiencies, `notification` when
   * the poller notifies. At most POLLER_MAX_SSE_CLIENTS at once; one more gets 503 (JSON) until a
   * client disconnects and frees its slot.
   */
  @Sse('events')
  @ApiOperation({
    summary: 'Live feed (server-sent events)',
    description: 'Events `server` (a server changed list or deficiencies) and `notification` (what the poller published), each with JSON data. At most POLLER_MAX_SSE_CLIENTS clients at once.',
  })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'An event stream that stays open.', content: { 'text/event-stream': { schema: { type: 'string' } } } })
  @ApiServiceUnavailableResponse({ description: 'Too many live-feed clients; try again once one disconnects. `{error, message, max}`.', type: HttpErrorDto })
  events(@Req() req: Request): Observable<MessageEvent> {
    const release = this.feeds.acquire();
    if (!release) {
      throw new ServiceUnavailableException({ error: 'too many live-feed clients', message: `this poller serves at most ${this.feeds.max} clients on /v1/events (POLLER_MAX_SSE_CLIENTS); try again later`, max: this.feeds.max });
    }
    req.once('close', release);
    return this.poller.stream.pipe(
      map((e) => ({ type: e.type, data: e.data })),
      finalize(release),
    );
  }
}
