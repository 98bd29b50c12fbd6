/** The figures of a run, their baselines and goals, as a JSON document and a readable table. */

export interface Figures {
  floor_p50_ms: number | null;
  floor_p99_ms: number | null;
  p50_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
  sustained_per_s: number | null;
  lost: number | null;
  check_ns: number | null;
  map_get_ns: number | null;
  redis_get_ns: number | null;
  /** One check of a signed command, canonical form included (issue 11). */
  verify_ns: number | null;
  /** Phase "auth": propagation p99 (median over rounds) with tokens, signing and per-node broker users on, and with FARM_AUTH=off. */
  auth_on_p99_ms: number | null;
  auth_off_p99_ms: number | null;
  handshake_ms: number | null;
  handshake_bytes: number | null;
  full_state_bytes: number | null;
  /** Right after the handshakes (the measuring point of the figures). */
  rss_mb: number | null;
  /** The same nodes after 90 s idle. */
  rss_settled_mb: number | null;
  /** Phase "outage": confirmed notifications missing from a node's cache or Redis hash at the end. */
  outage_lost: number | null;
  /** Phase "outage": messages in `<ns>.dead`. */
  outage_dead_lettered: number | null;
  /** Phase "outage": from Redis accepting writes again until the backlog is stored on every node (worst round). */
  outage_recover_ms: number | null;
  /** Issue 13: p99 at the low rate; CPU ms of every process (repeaters, broker, Redis, bench) per 1,000 notifications at 1,000/s, and of the floor per 1,000 messages. */
  low_rate_p99_ms: number | null;
  cpu_ms_per_1000: number | null;
  floor_cpu_ms_per_1000: number | null;
  /** Issue 13, phase "overtake": from publishing an urgent notification behind the backlog to it applied on all nodes; and to the backlog applied. */
  urgent_overtake_ms: number | null;
  backlog_drain_ms: number | null;
  /** Issue 13: a repeater's event-loop delay p99 over the 1,000/s phase. */
  event_loop_p99_ms: number | null;
  /** The floor on quorum queues (the ingress of the scale-out work). */
  floor_quorum_p99_ms: number | null;
  /** Latency on the first node to apply a notification (the ingress hop alone), at 1,000/s and at 250/s. */
  taker_p99_ms: number | null;
  low_rate_taker_p99_ms: number | null;
  /** Notifications per re-broadcast message at 1,000/s and at the low rate (the broker's work per notification falls as it rises). */
  notifications_per_rebroadcast: number | null;
  low_rate_notifications_per_rebroadcast: number | null;
  /**
   * The two-hop floor (phase "relay"): our design's shape on the broker alone (three node
   * processes take from one ingress queue and re-publish to a fanout of three node queues, raw
   * amqplib), p99 at 1,000/s and at the low rate. Information: how much of the gap to the
   * one-hop floor the design's second hop and processes cost before any of our code runs.
   */
  floor_two_hop_p99_ms: number | null;
  floor_two_hop_low_rate_p99_ms: number | null;
}

/** Figures shown beside the main ones (not part of the contract of the JSON). */
export interface Extras {
  floor_priority_p99_ms: number | null;
  low_rate: number;
  low_rate_p99_ms: number | null;
  low_rate_floor_ratio: number | null;
  rss_empty_mb: number | null;
  peak_applied_per_s: number | null;
  floor_sustained_per_s: number | null;
  check_hot16_ns: number | null;
  /** The bare HMAC-SHA256 of the same canonical text, beside verify_ns. */
  hmac_ns: number | null;
  auth_rounds: number | null;
  auth_on_p50_ms: number | null;
  auth_off_p50_ms: number | null;
  /** The range of p99 over the rounds of each mode (what "no measurable difference" is measured against). */
  auth_spread: string;
  /** The highest p99 of a round with auth off: a median p99 with auth on at or below it is within the noise. */
  auth_off_max_p99_ms: number | null;
  rss_small_young_gen_mb: number | null;
  rss_peak_mb: number | null;
  floor_sustained_for_goal: number | null;
  /** The lanes on the broker alone, "classic: urgent after 3 ms of 2,100 ms" and the same on quorum queues. */
  lanes: string;
  cpu_by_process: string;
  minor_gc: string;
  outage_rounds: number | null;
  outage_published_during: number | null;
  outage_applied_ms: number | null;
  /** Health answers seen while Redis refused writes, e.g. `503 degraded=redis x42`. */
  outage_health: string;
}

export interface Goal {
  name: string;
  ours: string;
  baseline: string;
  goal: string;
  met: boolean | null;
}

const fmt = (v: number | null, unit = '', digits = 2): string => (v === null || !Number.isFinite(v) ? 'n/a' : `${Number(v.toFixed(digits)).toLocaleString('en-US')}${unit}`);
const bytes = (v: number | null): string => (v === null ? 'n/a' : v >= 1e6 ? `${(v / 1e6).toFixed(2)} MB` : `${(v / 1e3).toFixed(1)} kB`);
const known = (...vs: (number | null)[]): boolean => vs.every((v) => v !== null && Number.isFinite(v));

/**
 * Goals (issue 13's where it set new ones): p99 <= 10 ms and <= 3x the floor's p99, at 250/s <= 2x
 * the floor's p99; sustained >= 6,000/s and >= 0.6x the floor's, with nothing lost; CPU per
 * notification <= 2.5x the floor's per message; an urgent notification behind a backlog applied
 * everywhere within 50 ms and 1/20 of the backlog's drain; RSS <= 160 MB;
 * check() <= 250 ns; handshake <= 1 s with bytes closer to 1% of the state than to all of it
 * (on a log scale: below sqrt(1% x whole) = 10% of the whole); RSS <= 200 MB; with Redis
 * refusing writes for 3 s under a stream: nothing lost or dead-lettered, and the backlog stored
 * on every node within 2 s of Redis accepting writes again.
 */
export function goals(f: Figures, x: Extras): Goal[] {
  const oneP = f.full_state_bytes === null ? null : f.full_state_bytes * 0.01;
  const bytesLimit = f.full_state_bytes === null ? null : Math.sqrt(0.01) * f.full_state_bytes;
  return [
    { name: 'latency p50', ours: fmt(f.p50_ms, ' ms'), baseline: `floor ${fmt(f.floor_p50_ms, ' ms')}`, goal: '(info)', met: null },
    {
      name: 'latency p99',
      ours: fmt(f.p99_ms, ' ms'),
      baseline: `floor ${fmt(f.floor_p99_ms, ' ms')} (priority queues ${fmt(x.floor_priority_p99_ms, ' ms')}); two-hop floor ${fmt(f.floor_two_hop_p99_ms, ' ms')}`,
      goal: `<= 10 ms and <= 3x floor (${fmt(f.floor_p99_ms === null ? null : 3 * f.floor_p99_ms, ' ms')})`,
      met: known(f.p99_ms, f.floor_p99_ms) ? (f.p99_ms as number) <= 10 && (f.p99_ms as number) <= 3 * (f.floor_p99_ms as number) : null,
    },
    { name: 'p99 on the taker (ingress hop)', ours: `${fmt(f.taker_p99_ms, ' ms')}; at ${x.low_rate}/s ${fmt(f.low_rate_taker_p99_ms, ' ms')}`, baseline: 'the first node to apply it', goal: '(info)', met: null },
    {
      name: `latency p99 at ${x.low_rate}/s`,
      ours: fmt(f.low_rate_p99_ms, ' ms'),
      baseline: `${fmt(x.low_rate_floor_ratio, 'x')} floor p99; two-hop floor ${fmt(f.floor_two_hop_low_rate_p99_ms, ' ms')}; floor on quorum queues ${fmt(f.floor_quorum_p99_ms, ' ms')}`,
      goal: '<= 2x floor p99',
      met: known(f.low_rate_p99_ms, f.floor_p99_ms) ? (f.low_rate_p99_ms as number) <= 2 * (f.floor_p99_ms as number) : null,
    },
    { name: 'latency max', ours: fmt(f.max_ms, ' ms'), baseline: '', goal: '(info)', met: null },
    {
      name: 'sustained rate',
      ours: fmt(f.sustained_per_s, '/s', 0),
      baseline: `floor sustains ${fmt(x.floor_sustained_per_s, '/s', 0)}; system peak applied ${fmt(x.peak_applied_per_s, '/s', 0)}`,
      goal: '>= 6,000/s and >= 0.6x floor',
      met: known(f.sustained_per_s, x.floor_sustained_for_goal) ? (f.sustained_per_s as number) >= 6000 && (f.sustained_per_s as number) >= 0.6 * (x.floor_sustained_for_goal as number) : null,
    },
    {
      name: 'CPU per 1,000 at 1,000/s',
      ours: fmt(f.cpu_ms_per_1000, ' ms', 0),
      baseline: `floor ${fmt(f.floor_cpu_ms_per_1000, ' ms', 0)}; ours by process (% of a core): ${x.cpu_by_process}; ${fmt(f.notifications_per_rebroadcast, '', 2)} notifications per re-broadcast message (${fmt(f.low_rate_notifications_per_rebroadcast, '', 2)} at ${x.low_rate}/s)`,
      goal: '<= 2.5x floor',
      met: known(f.cpu_ms_per_1000, f.floor_cpu_ms_per_1000) ? (f.cpu_ms_per_1000 as number) <= 2.5 * (f.floor_cpu_ms_per_1000 as number) : null,
    },
    {
      name: 'urgent overtakes a backlog',
      ours: fmt(f.urgent_overtake_ms, ' ms', 1),
      baseline: `backlog drained ${fmt(f.backlog_drain_ms, ' ms', 0)}; lanes alone: ${x.lanes}`,
      goal: '<= 50 ms and <= drain / 20',
      met: known(f.urgent_overtake_ms, f.backlog_drain_ms) ? (f.urgent_overtake_ms as number) <= 50 && (f.urgent_overtake_ms as number) <= (f.backlog_drain_ms as number) / 20 : null,
    },
    { name: 'event loop p99 at 1,000/s', ours: fmt(f.event_loop_p99_ms, ' ms', 1), baseline: `young-generation GC: ${x.minor_gc}`, goal: '(info)', met: null },
    { name: 'lost', ours: fmt(f.lost, '', 0), baseline: '', goal: '0', met: known(f.lost) ? f.lost === 0 : null },
    {
      name: 'check()',
      ours: fmt(f.check_ns, ' ns', 1),
      baseline: `16 hot pairs ${fmt(x.check_hot16_ns, ' ns', 0)}; Map.get ${fmt(f.map_get_ns, ' ns', 1)}; Redis GET ${fmt(f.redis_get_ns === null ? null : f.redis_get_ns / 1000, ' us', 1)}`,
      goal: '<= 250 ns',
      met: known(f.check_ns) ? (f.check_ns as number) <= 250 : null,
    },
    { name: 'verify signed command', ours: fmt(f.verify_ns, ' ns', 0), baseline: `HMAC-SHA256 alone ${fmt(x.hmac_ns, ' ns', 0)}`, goal: '<= 5,000 ns', met: known(f.verify_ns) ? (f.verify_ns as number) <= 5000 : null },
    {
      name: 'p99, auth on vs off',
      ours: `on ${fmt(f.auth_on_p99_ms, ' ms')} (p50 ${fmt(x.auth_on_p50_ms, ' ms')})`,
      baseline: `off ${fmt(f.auth_off_p99_ms, ' ms')} (p50 ${fmt(x.auth_off_p50_ms, ' ms')}); ${x.auth_spread} over ${fmt(x.auth_rounds, '', 0)} rounds`,
      goal: 'no measurable difference (on within the spread of off)',
      met: known(f.auth_on_p99_ms, x.auth_off_max_p99_ms) ? (f.auth_on_p99_ms as number) <= (x.auth_off_max_p99_ms as number) : null,
    },
    { name: 'handshake time', ours: fmt(f.handshake_ms, ' ms', 0), baseline: '', goal: '<= 1,000 ms', met: known(f.handshake_ms) ? (f.handshake_ms as number) <= 1000 : null },
    {
      name: 'handshake bytes',
      ours: bytes(f.handshake_bytes),
      baseline: `whole ${bytes(f.full_state_bytes)}, 1% ${bytes(oneP)}`,
      goal: `closer to 1% (< ${bytes(bytesLimit)})`,
      met: known(f.handshake_bytes, bytesLimit) ? (f.handshake_bytes as number) < (bytesLimit as number) : null,
    },
    { name: 'RSS per repeater (100,000 entries, default flags)', ours: fmt(f.rss_mb, ' MB', 1), baseline: `peak ${fmt(x.rss_peak_mb, ' MB', 1)} (VmHWM); empty repeater ${fmt(x.rss_empty_mb, ' MB', 1)}; with NODE_OPTIONS=--max-semi-space-size=2: ${fmt(x.rss_small_young_gen_mb, ' MB', 1)}`, goal: '<= 160 MB', met: known(f.rss_mb) ? (f.rss_mb as number) <= 160 : null },
    { name: 'RSS per repeater, 90 s idle after that', ours: fmt(f.rss_settled_mb, ' MB', 1), baseline: 'the same nodes, once V8 has returned the garbage of the restore and the handshakes', goal: '<= 160 MB', met: known(f.rss_settled_mb) ? (f.rss_settled_mb as number) <= 160 : null },
    {
      name: 'outage: lost',
      ours: fmt(f.outage_lost, '', 0),
      baseline: `${fmt(x.outage_published_during, '', 0)} published while Redis refused writes (${fmt(x.outage_rounds, '', 0)} outages of 3 s)`,
      goal: '0',
      met: known(f.outage_lost) ? f.outage_lost === 0 : null,
    },
    { name: 'outage: dead-lettered', ours: fmt(f.outage_dead_lettered, '', 0), baseline: `health meanwhile: ${x.outage_health}`, goal: '0', met: known(f.outage_dead_lettered) ? f.outage_dead_lettered === 0 : null },
    {
      name: 'outage: recovery',
      ours: fmt(f.outage_recover_ms, ' ms', 0),
      baseline: `in every cache after ${fmt(x.outage_applied_ms, ' ms', 0)}`,
      goal: '<= 2,000 ms',
      met: known(f.outage_recover_ms) ? (f.outage_recover_ms as number) <= 2000 : null,
    },
  ];
}

export function table(rows: Goal[]): string {
  const head = ['figure', 'ours', 'baseline', 'goal', 'met'];
  const cells = rows.map((r) => [r.name, r.ours, r.baseline, r.goal, r.met === null ? '' : r.met ? 'yes' : 'NO']);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]): string => c.map((s, i) => s.padEnd(widths[i])).join(' | ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}
