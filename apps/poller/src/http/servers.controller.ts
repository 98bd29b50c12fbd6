import { ConflictException, Controller, Delete, Get, HttpCode, Inject, MessageEvent, NotFoundException, Param, Post, Req, ServiceUnavailableException, Sse } from '@nestjs/common';
import type { Request } from 'express';
import { Observable, finalize, map } from 'rxjs';
import { PollerEnv, ServerRecord, listOf } from '@farm/common';
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
    ...(full ? { lastCompilation: c ?? null } : { services: c ? c.services.map((s) => ({ name: s.name, status: s.status })) : [] }),
  };
}

/** What the poller knows, for people: lists, deficiencies, compilations, and a live feed. */
@Controller('v1')
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
  async one(@Param('id') id: string) {
    await this.fresh();
    const r = this.poller.engine.records.get(id);
    if (!r) throw new NotFoundException(`no server ${id} is known to the poller`);
    return view(r, true);
  }

  /** Polls the server now and answers with the result. */
  @Post('servers/:id/poll')
  @HttpCode(200)
  async poll(@Param('id') id: string) {
    await this.mustBeActive();
    const r = await this.poller.pollNow(id);
    if (!r) throw new NotFoundException(`no server ${id} is registered or configured`);
    return view(r, true);
  }

  /** Forgets a decommissioned server (a running attendant registers itself again). */
  @Delete('servers/:id')
  @HttpCode(204)
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
