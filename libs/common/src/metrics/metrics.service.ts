import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** A process's own load: requests in flight now, their limit, and its event loop's utilisation over the last second (0-1). */
export interface ProcessLoad {
  inFlight: () => number;
  limit: number;
  eventLoopUtilization: number;
}

/** Prometheus metrics of one process, on a registry of its own. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  readonly applied = new Counter({ name: 'farm_entries_applied_total', help: 'Entries that changed the local state, by path', labelNames: ['via'], registers: [this.registry] });
  readonly received = new Counter({ name: 'farm_messages_received_total', help: 'Messages consumed, by queue role', labelNames: ['queue'], registers: [this.registry] });
  readonly ownRebroadcasts = new Counter({ name: 'farm_own_rebroadcasts_skipped_total', help: 'This node\'s own re-broadcasts taken back from its queue and acked unread (it applied and stored them before it sent them)', registers: [this.registry] });
  readonly deadLettered = new Counter({ name: 'farm_messages_dead_lettered_total', help: 'Messages refused and dead-lettered', labelNames: ['queue'], registers: [this.registry] });
  readonly published = new Counter({ name: 'farm_messages_published_total', help: 'Messages confirmed by the broker', labelNames: ['exchange'], registers: [this.registry] });
  readonly publishFailed = new Counter({ name: 'farm_publish_failures_total', help: 'Publishes not confirmed', labelNames: ['exchange'], registers: [this.registry] });
  readonly lag = new Histogram({ name: 'farm_apply_lag_seconds', help: 'From notification timestamp to applied on this node', labelNames: ['via'], buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly entries = new Gauge({ name: 'farm_entries', help: 'Entries held in the local cache', registers: [this.registry] });
  readonly handshakes = new Counter({ name: 'farm_handshakes_total', help: 'Union-merge handshakes run, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly brokerUp = new Gauge({ name: 'farm_broker_connected', help: '1 while connected to RabbitMQ', registers: [this.registry] });
  readonly redisUp = new Gauge({ name: 'farm_redis_connected', help: '1 while connected to Redis', registers: [this.registry] });
  readonly redisWritable = new Gauge({ name: 'farm_redis_writable', help: '1 while writes to Redis succeed, 0 while they fail and are retried', registers: [this.registry] });
  readonly redisWriteFailures = new Counter({ name: 'farm_redis_write_failures_total', help: 'Failed Redis writes (each retried until it succeeds)', registers: [this.registry] });
  readonly consumerTrouble = new Counter({ name: 'farm_consumer_retries_total', help: 'Deliveries retried because a dependency failed (trouble, not poison)', labelNames: ['queue'], registers: [this.registry] });
  readonly consumerPaused = new Gauge({ name: 'farm_consumer_paused', help: '1 while a consumer is paused by trouble', labelNames: ['queue'], registers: [this.registry] });
  readonly expired = new Counter({ name: 'farm_entries_expired_total', help: 'Available entries dropped after the retention window', registers: [this.registry] });
  readonly refusedFromPeers = new Counter({ name: 'farm_handshake_entries_refused_total', help: 'Entries from peers not taken in (stale or too far in the future)', registers: [this.registry] });
  readonly deadLetters = new Gauge({ name: 'farm_dead_letters', help: 'Messages waiting in <ns>.dead (limit DEAD_QUEUE_MAX_LENGTH; the oldest are dropped beyond it)', registers: [this.registry] });
  readonly rebroadcastsRefused = new Counter({ name: 'farm_rebroadcasts_refused_total', help: 'Re-broadcasts refused because they did not come from the node they name (x-origin-node vs the broker user_id)', registers: [this.registry] });
  readonly signedCommands = new Counter({ name: 'farm_signed_commands_total', help: 'Signed commands received, by command and outcome (accepted, or why refused: forged, replayed, stale...; a ring-replace whose signature was accepted but that the ring table refuses is counted again, as old-still-in-table, next-not-in-table...)', labelNames: ['command', 'outcome'], registers: [this.registry] });
  /** This process's load as bootstrap measures it (GET /v1/health/load, and the gauges below at each scrape). */
  readonly load: ProcessLoad = { inFlight: () => 0, limit: 0, eventLoopUtilization: 0 };
  readonly httpInFlight: Gauge = new Gauge({ name: 'farm_http_in_flight', help: 'HTTP requests being served now (probes, scrapes and live feeds not counted)', registers: [this.registry], collect: (): void => this.httpInFlight.set(this.load.inFlight()) });
  readonly httpInFlightLimit = new Gauge({ name: 'farm_http_in_flight_limit', help: 'Most HTTP requests served at once (HTTP_MAX_IN_FLIGHT); beyond it a request gets 503', registers: [this.registry] });
  readonly httpShed = new Counter({ name: 'farm_http_shed_total', help: 'HTTP requests refused with 503 because HTTP_MAX_IN_FLIGHT were being served', registers: [this.registry] });
  readonly eventLoopUtilization = new Gauge({ name: 'farm_event_loop_utilization', help: 'Share of the last second the event loop was busy (0-1)', registers: [this.registry] });
  readonly loadScore = new Gauge({ name: 'farm_load_score', help: 'The server\'s load score as the attendant last measured it (0 idle, 100 worst)', registers: [this.registry] });
  readonly failoverMessages = new Counter({ name: 'farm_failover_messages_total', help: 'Signed failover messages the attendant sent its clients, by kind (failover, invitation)', labelNames: ['kind'], registers: [this.registry] });
  readonly failoverSendFailures = new Counter({ name: 'farm_failover_send_failures_total', help: 'Signed failover messages the broker did not confirm (each is sent again at a later sample), by kind', labelNames: ['kind'], registers: [this.registry] });
  readonly deferredClients = new Gauge({ name: 'farm_deferred_clients', help: 'Clients the attendant told to move and has not invited back yet', registers: [this.registry] });
  readonly redisRewrites = new Counter({ name: 'farm_redis_state_rewrites_total', help: 'Times the node found its Redis state lost and wrote it back', registers: [this.registry] });

  readonly compileSeconds = new Histogram({ name: 'farm_attendant_compile_seconds', help: 'Time to compile one attendant answer', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly attendantRequests = new Counter({ name: 'farm_attendant_requests_total', help: 'Requests answered by the attendant, by op', labelNames: ['op'], registers: [this.registry] });
  readonly polls = new Counter({ name: 'farm_poller_polls_total', help: 'Polls by outcome (ok, unresponsive, bad-reply)', labelNames: ['outcome'], registers: [this.registry] });
  readonly pollSeconds = new Histogram({ name: 'farm_poller_poll_seconds', help: 'Round trip of one poll', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5], registers: [this.registry] });
  readonly serversByList = new Gauge({ name: 'farm_poller_servers', help: 'Servers on each list', labelNames: ['list'], registers: [this.registry] });
  readonly monitorNotifications = new Counter({ name: 'farm_poller_notifications_total', help: 'Availability notifications raised by the poller', labelNames: ['available'], registers: [this.registry] });
  readonly clockCorrections = new Counter({ name: 'farm_poller_clock_corrections_total', help: 'set-clock commands sent', registers: [this.registry] });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
