import { BadRequestException, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiExtraModels, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, getSchemaPath } from '@nestjs/swagger';
import {
  ALL_KINDS, AVAILABILITY_PAGE_DEFAULT, AVAILABILITY_PAGE_MAX, ApiFieldErrors, AvailabilityPage, AvailabilityService, Entry, EntryDto, FarmCommand, HandshakeReport, KIND_PATTERN, NODE_SYNC, SyncService,
  TARGET_PATTERN, TARGET_TYPES, objectSchema, pageOf, parsePageQuery,
} from '@farm/common';
import { MAX_SYNC_PEERS, PEER_ID_PATTERN, parsePeers } from './sync-peers';

const NODE_ID = PEER_ID_PATTERN.source.slice(1, -1);
const peerResult = objectSchema(
  { peer: { type: 'string' }, ok: { type: 'boolean' }, equal: { type: 'boolean' }, sent: { type: 'integer' }, learned: { type: 'integer' }, ms: { type: 'number' }, error: { type: 'string' }, followUp: { type: 'boolean' } },
  ['peer', 'ok', 'sent', 'learned', 'ms'],
);

/** The state's entries in key order with their keys, kept while the state (its digest) is unchanged. */
interface SortedState {
  digest: string;
  entries: Entry[];
  keys: string[];
}

/** The node's view of availability: what it holds (paged), a lookup, and the handshake on demand. */
@Controller('v1')
@ApiExtraModels(EntryDto)
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
  @ApiOperation({ summary: 'The entries this node holds, a page at a time', description: 'In key order after the `after` cursor. A reader that sees `digest` change between pages starts over.' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: AVAILABILITY_PAGE_MAX, default: AVAILABILITY_PAGE_DEFAULT }, description: 'Entries in this page.' })
  @ApiQuery({ name: 'after', required: false, schema: { type: 'string', maxLength: 1024 }, description: 'The `next` of the previous page; absent for the first.' })
  @ApiOkResponse({
    schema: objectSchema({
      nodeId: { type: 'string' },
      count: { type: 'integer', description: 'Entries in the whole state (not this page).' },
      digest: { type: 'string', description: 'Hash of the canonical, sorted entries of the whole state: equal on two nodes exactly when they hold the same entries.' },
      entries: { type: 'array', items: { $ref: getSchemaPath(EntryDto) } },
      next: { type: 'string', nullable: true, description: 'Cursor of the following page; null on the last.' },
    }),
  })
  @ApiFieldErrors(400, '`limit` is not an integer from 1 to 10000, or `after` is longer than 1024 characters.')
  all(@Query('limit') limit?: string, @Query('after') after?: string): AvailabilityPage<Entry> {
    const q = parsePageQuery(limit, after);
    if (!q.value) throw new BadRequestException({ errors: q.errors });
    const s = this.sortedState();
    const page = pageOf(s.entries, s.keys, q.value);
    return { nodeId: this.availability.nodeId, count: s.entries.length, digest: s.digest, entries: page.entries, next: page.next };
  }

  @Get('availability/:target')
  @ApiOperation({ summary: 'Look up a target', description: 'Whether the application (or, with `targetType=resource`, the resource) is available for this request kind, decided from this node\'s cache; for an application, also the resources it depends on.' })
  @ApiParam({ name: 'target', schema: { type: 'string', pattern: TARGET_PATTERN.source }, example: 'mail' })
  @ApiQuery({ name: 'kind', required: false, schema: { type: 'string', pattern: `^(?:\\*|${KIND_PATTERN.source.slice(1, -1)})$` }, description: 'The request kind; absent: all kinds (only entries for all kinds decide).' })
  @ApiQuery({ name: 'targetType', required: false, schema: { type: 'string', enum: [...TARGET_TYPES] }, description: '`resource` to look up a resource itself; default `application`.' })
  @ApiOkResponse({
    schema: objectSchema(
      {
        target: { type: 'string' },
        targetType: { type: 'string', enum: ['resource'] },
        kind: { type: 'string' },
        available: { type: 'boolean' },
        reason: { type: 'string' },
        message: { type: 'string' },
        component: { type: 'string' },
        expectedUpAt: { type: 'string' },
        scheduled: { type: 'boolean', description: 'The deciding entry takes the target down at `downAt`, still ahead.' },
        downAt: { type: 'string' },
        decidedBy: objectSchema({ key: { type: 'string' }, id: { type: 'string' } }),
        dependsOn: { type: 'array', items: { type: 'string' }, description: 'The resources the application depends on (not for a resource).' },
      },
      ['target', 'kind', 'available'],
    ),
  })
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
  @ApiOperation({ summary: 'Run the union-merge handshake now', description: 'With the peers named, else the configured (or random live) peers; answers with what was sent and learned.' })
  @ApiQuery({ name: 'peers', required: false, schema: { type: 'string', pattern: `^${NODE_ID}(?:,${NODE_ID}){0,${MAX_SYNC_PEERS - 1}}$` }, description: `Comma-separated node ids, at most ${MAX_SYNC_PEERS}.`, example: 'node-2,node-3' })
  @ApiOkResponse({
    schema: objectSchema({
      nodeId: { type: 'string' },
      mode: { type: 'string', enum: ['serial', 'parallel'] },
      peers: { type: 'array', items: peerResult },
      followUps: { type: 'array', items: peerResult },
      learned: { type: 'integer' },
      ms: { type: 'number' },
      bytesOut: { type: 'integer' },
      bytesIn: { type: 'integer' },
      digest: { type: 'string' },
    }),
  })
  @ApiFieldErrors(400, `More than ${MAX_SYNC_PEERS} peers, or one that is not a node id.`)
  run(@Query('peers') peers?: unknown): Promise<HandshakeReport> {
    const parsed = parsePeers(peers);
    if (parsed.errors) throw new BadRequestException({ errors: parsed.errors });
    return this.sync.run(parsed.peers);
  }
}
