import { Controller, Get, Header, HttpCode, Inject, Post, Res, ServiceUnavailableException } from '@nestjs/common';
import type { Response } from 'express';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import Redis from 'ioredis';
import { AMQP_CLIENT, AmqpClient, ApiHealthReport, ApiMetricsScrape, AttendantEnv, ClockReadingDto, Compilation, CompilationDto, FarmHealthService, LoadReport, LoadReportDto, MetricsService, ProbeReport, ProbeReportDto, PublicRoute, REDIS } from '@farm/common';
import { LoadService } from '../load/load.service';
import { ProbeService } from '../probes/probe.service';
import { AttendantService } from '../serving/attendant.service';
import { ClockService } from '../serving/clock.service';
import { ATTENDANT_ENV } from '../tokens';

/** The attendant's HTTP face, for people and scripts; the poller uses the queue. */
@Controller()
export class AttendantController {
  constructor(
    @Inject(ATTENDANT_ENV) private readonly env: AttendantEnv,
    private readonly attendant: AttendantService,
    private readonly clock: ClockService,
    private readonly probes: ProbeService,
    private readonly load: LoadService,
    private readonly metrics: MetricsService,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly health: FarmHealthService,
  ) {}

  /** The same compilation the queue answers with. */
  @Get('v1/compilation')
  @ApiOperation({ summary: 'Compile the server\'s report now', description: 'Every configured service\'s check, the probes\' last reports, the clock and the deficiencies they imply: the answer the poller gets on the queue.' })
  @ApiOkResponse({ type: CompilationDto })
  compilation(): Promise<Compilation> {
    return this.attendant.compile();
  }

  /** The server's load as last sampled (every LOAD_INTERVAL_MS). */
  @Get('v1/load')
  @ApiOperation({
    summary: 'The server\'s load',
    description: 'One score from 0 (idle) to 100 (worst), smoothed, with each component (the monitored application\'s requests in flight against its limit and its event-loop utilisation, CPU, memory, processes, peers), the services found down by the last compilation, and, with failover thresholds configured, the zone. Sampled every LOAD_INTERVAL_MS.',
  })
  @ApiOkResponse({ type: LoadReportDto })
  @ApiServiceUnavailableResponse({ description: 'No sample yet.' })
  loadReport(): LoadReport {
    const r = this.load.report;
    if (!r) throw new ServiceUnavailableException('the load has not been sampled yet');
    return r;
  }

  @Get('v1/clock')
  @ApiOperation({ summary: 'This server\'s clock, as the poller corrects it' })
  @ApiOkResponse({ type: ClockReadingDto })
  readClock() {
    return this.clock.clock.reading();
  }

  /** Runs probe A now and returns its report. */
  @Post('v1/probes/login')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run probe A now', description: 'Logs in through the local repeater and reads this attendant\'s mailbox; answers with the report.' })
  @ApiOkResponse({ type: ProbeReportDto, description: 'The probe\'s report (null when it could not run).' })
  probeLogin(): Promise<ProbeReport | null> {
    return this.probes.runLogin();
  }

  /** Runs probe B now (only while logged in) and returns its report. */
  @Post('v1/probes/refresh')
  @HttpCode(200)
  @ApiOperation({ summary: 'Run probe B now', description: 'Only while logged in (probe A succeeded); answers with the report.' })
  @ApiOkResponse({ type: ProbeReportDto, description: 'The probe\'s report (null while not logged in).' })
  probeRefresh(): Promise<ProbeReport | null> {
    return this.probes.runRefresh();
  }

  @Get('v1/health')
  @PublicRoute()
  @ApiHealthReport('An attendant needs the broker and Redis.', {
    serverId: { type: 'string' },
    broker: { type: 'string', enum: ['connected', 'disconnected'] },
    redis: { type: 'string', description: 'The Redis client\'s status (`ready` when usable).' },
    loggedIn: { type: 'boolean', description: 'Whether probe A\'s last login succeeded.' },
  })
  async report(@Res() res: Response): Promise<void> {
    const r = await this.health.readiness();
    res.status(r.ready ? 200 : 503).json({
      status: r.ready ? 'ok' : 'degraded',
      ...(r.ready ? {} : { degraded: r.down.join(',') }),
      serverId: this.env.SERVER_ID,
      broker: this.amqp.connected ? 'connected' : 'disconnected',
      redis: this.redis.status,
      loggedIn: this.probes.state.loggedIn,
      checks: r.result.details,
    });
  }

  @Get('metrics')
  @Header('Content-Type', 'text/plain; version=0.0.4')
  @ApiMetricsScrape('Checks and probes by outcome, queries answered, clock corrections.')
  scrape(): Promise<string> {
    return this.metrics.registry.metrics();
  }
}
