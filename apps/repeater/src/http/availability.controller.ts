import { BadRequestException, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ALL_KINDS, FarmCommand, NODE_SYNC, AvailabilityPage, AvailabilityService, Entry, HandshakeReport, SyncService, pageOf, parsePageQuery } from '@farm/common';
import { parsePeers } from './sync-peers';

/** The state's entries in key order with their keys, kept while the state (its digest) is unchanged. */
interface SortedState {
  digest: string;
  entries: Entry[];
  keys: string[];
}

/** The node's view of availability: what it holds (paged), a lookup, and the handshake on demand. */
@Controller('v1')
export class AvailabilityController {
  private sorted?: SortedState;

  constructor(
    private readonly availability: AvailabilityService,
    private readonly sync: SyncService,
  ) {}

  /** The entries sorted once per state, so reading every page costs one sort, not one per page. */
  private sortedState(): SortedState {
    const digest = this.availability.state.digest();
    if (this.sorted?.digest !== digest) {
      const stored = [...this.availability.state.stored()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      this.sorted = { digest, entries: stored.map((s) => s.entry), keys: stored.map((s) => s.key) };
    }
    return this.sorted;
  }

  /**
   * `?limit=` entries (default 1000, at most 10000) in key order after the `?after=` cursor;
   * `next` is the cursor of the following page, null on the last. `count` and `digest` are the
   * whole state's.
   */
  @Get('availability')
  all(@Query('limit') limit?: string, @Query('after') after?: string): AvailabilityPage<Entry> {
    const q = parsePageQuery(limit, after);
    if (!q.value) throw new BadRequestException({ errors: q.errors });
    const s = this.sortedState();
    const page = pageOf(s.entries, s.keys, q.value);
    return { nodeId: this.availability.nodeId, count: s.entries.length, digest: s.digest, entries: page.entries, next: page.next };
  }

  @Get('availability/:target')
  one(@Param('target') target: string, @Query('kind') kind?: string, @Query('targetType') targetType?: string): Record<string, unknown> {
    const k = kind || ALL_KINDS;
    if (targetType === 'resource') return { target, targetType, kind: k, ...this.availability.state.checkResource(target, k) };
    const d = this.availability.check(target, k);
    return { target, kind: k, ...d, dependsOn: this.availability.state.dependenciesOf(target) };
  }

  /** Runs the handshake now, with `?peers=` (at most 16 node ids) or the configured peers. */
  @Post('sync')
  @FarmCommand(NODE_SYNC)
  @HttpCode(200)
  run(@Query('peers') peers?: unknown): Promise<HandshakeReport> {
    const parsed = parsePeers(peers);
    if (parsed.errors) throw new BadRequestException({ errors: parsed.errors });
    return this.sync.run(parsed.peers);
  }
}
