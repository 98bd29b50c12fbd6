import { Inject, Injectable, Logger, OnModuleInit, Optional } from '@nestjs/common';
import { SIGNATURE_HEADER } from '../auth/command-signature';
import type { CommandSigner, CommandVerifier } from '../auth/command-verifier';
import { COMMAND_SIGNER } from '../auth/farm-auth';
import { COMMAND_VERIFIER } from '../auth/operator.guard';
import { ModuleRef } from '@nestjs/core';
import { NodeEnv } from '../config/repeater.env';
import { topology } from '../contracts/topology';
import { assertSafeShape, parseEntries, parseJson } from '../contracts/validation';
import { LEAVES } from '../domain/availability-state';
import { fnv1a32 } from '../domain/hashing';
import { Entry, keyOf } from '../domain/notification';
import { isAdmissible } from '../domain/retention';
import { safe } from '../logging';
import { AvailabilityState } from '../domain/availability-state';
import { HandshakeEvent, choosePeers, followUpPeers } from '../domain/handshake-policy';
import { LeafDigests, answerWants, chunkExchange, decodeFingerprints, differingLeaves, encodeFingerprints, planExchange } from '../domain/sync-plan';
import { AmqpClient } from '../messaging/amqp-client';
import { assertRpcQueue } from '../messaging/farm-topology';
import { lastValueFrom } from 'rxjs';
import { FarmClient } from '../transport/farm-client';
import { FarmRecord } from '../transport/farm-record';
import { FarmRoute, FarmServer } from '../transport/farm-server';
import { Subscription } from '../messaging/subscription';
import { MetricsService } from '../metrics/metrics.service';
import { RingService } from './ring.service';
import { ReplicationService } from './replication.service';
import { AMQP_CLIENT, AVAILABILITY_STATE, NODE_ENV } from './tokens';

/** The farm-transport pattern of handshake requests, on `<ns>.rpc.<nodeId>`. */
export const NODE_HANDSHAKE = 'node.handshake';
/** The signed command that asks a node to run its handshake now (`POST /v1/sync`; the attendant's refresh probe sends it). */
export const NODE_SYNC = 'sync';

/** The farm-client pattern prefix of a request to a peer: `node:<peerId>`. */
const PEER = 'node:';

export interface PeerResult {
  peer: string;
  ok: boolean;
  equal?: boolean;
  sent: number;
  learned: number;
  ms: number;
  error?: string;
  followUp?: boolean;
}

export interface HandshakeReport {
  nodeId: string;
  mode: 'serial' | 'parallel';
  peers: PeerResult[];
  followUps: PeerResult[];
  learned: number;
  ms: number;
  bytesOut: number;
  bytesIn: number;
  digest: string;
}

/** Largest handshake request a node parses: a digest (4,096 leaves) or one chunk of an exchange. */
export const MAX_RPC_REQUEST_BYTES = 4 * 1024 * 1024;
/** Entries plus wanted keys in one exchange request: 250 of the largest entries (16 KiB) fit in MAX_RPC_REQUEST_BYTES. */
export const MAX_EXCHANGE_ITEMS = 250;
/** Node ids, as NODE_ID allows them. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

type Request =
  | { op: 'digest'; from: string; leaves: LeafDigests }
  | { op: 'exchange'; from: string; leaves: number[]; entries: unknown[]; want: string[] };

/**
 * The union-merge handshake. As initiator: compare leaf digests with each reference peer, then
 * exchange only the entries that differ, both ways; afterwards, peers that answered before news
 * was found elsewhere get a follow-up. As responder: merge what the initiator sends, learn from
 * it, and return what it lacks.
 */
@Injectable()
export class SyncService implements OnModuleInit {
  private readonly log = new Logger('Sync');
  private readonly t;
  /** Requests to peers: `node:<peerId>` goes to that node's handshake queue. */
  private peerClient!: FarmClient;
  private running?: Promise<HandshakeReport>;

  constructor(
    @Inject(NODE_ENV) private readonly env: NodeEnv,
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(AVAILABILITY_STATE) private readonly state: AvailabilityState,
    private readonly replication: ReplicationService,
    private readonly ring: RingService,
    private readonly metrics: MetricsService,
    private readonly moduleRef: ModuleRef,
    @Optional() @Inject(COMMAND_SIGNER) private readonly signer?: CommandSigner,
    @Optional() @Inject(COMMAND_VERIFIER) private readonly verifier?: CommandVerifier,
  ) {
    this.t = topology(env.FARM_NAMESPACE);
  }

  onModuleInit(): void {
    this.peerClient = new FarmClient(this.amqp, { route: (pattern) => ({ queue: this.t.rpcQueue(pattern.slice(PEER.length)) }), timeoutMs: this.env.SYNC_TIMEOUT_MS });
  }

  /** The handshake responder as a farm-transport route (paused until the node has restored its state). */
  route(): FarmRoute {
    return { pattern: NODE_HANDSHAKE, queue: this.t.rpcQueue(this.env.NODE_ID), prefetch: 4, paused: true, assert: (ch) => assertRpcQueue(ch, this.t, this.env.NODE_ID) };
  }

  /** The consumer of this node's handshake queue (through the farm transport). */
  get server(): Subscription {
    return this.moduleRef.get(FarmServer, { strict: false }).subscription(NODE_HANDSHAKE);
  }

  // ---- responder ----------------------------------------------------------------------------

  /**
   * Answers a handshake request. Where the farm signs its commands (`signature`, the request's
   * `farm-signature` header), only a request signed by a node for this node is answered, and its
   * `from` must be its signer: an unsigned, forged or replayed one gets `{error}` and changes nothing.
   */
  async answer(body: Buffer, signature?: string): Promise<Buffer> {
    try {
      const req = parseJson(body, MAX_RPC_REQUEST_BYTES) as Request;
      assertSafeShape(req);
      if (req === null || typeof req !== 'object' || (req.from !== undefined && (typeof req.from !== 'string' || !NODE_ID_PATTERN.test(req.from)))) {
        return Buffer.from(JSON.stringify({ error: 'bad request' }));
      }
      if (this.verifier) {
        const v = await this.verifier.verify(signature, NODE_HANDSHAKE, req);
        if (!v.ok) return Buffer.from(JSON.stringify({ error: `refused (${v.reason}): ${v.message}` }));
        if (v.head.sender !== req.from) return Buffer.from(JSON.stringify({ error: `refused: signed by ${v.head.sender}, from ${String(req.from)}` }));
      }
      if (req.op === 'digest') {
        const differing = differingLeaves(this.state.leafDigests(), req.leaves ?? {});
        if (differing.length === 0) return Buffer.from(JSON.stringify({ equal: true }));
        return Buffer.from(JSON.stringify({ equal: false, leaves: differing, fps: encodeFingerprints(this.state.inLeaves(differing)) }));
      }
      if (req.op === 'exchange') {
        if (!Array.isArray(req.entries) || req.entries.length > MAX_EXCHANGE_ITEMS || !Array.isArray(req.want ?? []) || (req.want ?? []).length > MAX_EXCHANGE_ITEMS) {
          return Buffer.from(JSON.stringify({ error: `an exchange carries at most ${MAX_EXCHANGE_ITEMS} entries and wants` }));
        }
        const entries = this.admissible(parseEntries({ entries: req.entries }));
        const leaves = (Array.isArray(req.leaves) ? req.leaves : []).filter((l) => Number.isInteger(l) && l >= 0 && l < LEAVES);
        await this.replication.apply(entries, 'sync');
        const answer = answerWants(this.state.inLeaves(leaves), req.want ?? [], entries);
        return Buffer.from(JSON.stringify({ entries: answer }));
      }
      return Buffer.from(JSON.stringify({ error: 'unknown op' }));
    } catch (err) {
      this.log.warn(`refused a handshake request: ${safe((err as Error).message, 200)}`);
      return Buffer.from(JSON.stringify({ error: (err as Error).message.slice(0, 500) }));
    }
  }

  // ---- initiator ----------------------------------------------------------------------------

  private async call<T>(peer: string, req: Request): Promise<T> {
    const body = Buffer.from(JSON.stringify(req));
    const headers = this.signer ? { [SIGNATURE_HEADER]: this.signer.sign(peer, NODE_HANDSHAKE, req) } : undefined;
    const raw = await lastValueFrom(this.peerClient.send<Buffer>(`${PEER}${peer}`, headers ? new FarmRecord(body, { headers }) : body));
    const reply = JSON.parse(raw.toString('utf8')) as T & { error?: string };
    if (reply.error) throw new Error(`peer ${peer}: ${reply.error}`);
    return reply;
  }

  /** Two rounds with one peer: digests, then the differing entries both ways. */
  async syncWith(peer: string, events: HandshakeEvent[]): Promise<PeerResult> {
    const started = Date.now();
    const result: PeerResult = { peer, ok: false, sent: 0, learned: 0, ms: 0 };
    try {
      events.push({ type: 'sent', peer });
      const r1 = await this.call<{ equal: boolean; leaves?: number[]; fps?: string }>(peer, { op: 'digest', from: this.env.NODE_ID, leaves: this.state.leafDigests() });
      if (r1.equal) {
        result.equal = true;
      } else {
        const leaves = (r1.leaves ?? []).filter((l) => Number.isInteger(l) && l >= 0 && l < LEAVES);
        const plan = planExchange(this.state.inLeaves(leaves), decodeFingerprints(r1.fps ?? ''));
        // Round 2 in requests of bounded size, so a large difference never makes one huge message.
        const chunks = chunkExchange(leaves, plan, (e) => fnv1a32(keyOf(e)) & (LEAVES - 1), (k) => parseInt(k, 16) & (LEAVES - 1), MAX_EXCHANGE_ITEMS);
        for (const chunk of chunks) {
          events.push({ type: 'sent', peer });
          const r2 = await this.call<{ entries: unknown[] }>(peer, { op: 'exchange', from: this.env.NODE_ID, leaves: chunk.leaves, entries: chunk.send, want: chunk.want });
          const changed = await this.replication.apply(this.admissible(parseEntries({ entries: r2.entries ?? [] })), 'sync');
          result.sent += chunk.send.length;
          result.learned += changed.length;
        }
      }
      result.ok = true;
    } catch (err) {
      result.error = (err as Error).message;
    }
    events.push({ type: 'learned', peer, count: result.learned });
    result.ms = Date.now() - started;
    return result;
  }

  /** Entries from a peer that this node takes in: not stale, not too far ahead of its clock. */
  private admissible(entries: Entry[]): Entry[] {
    const now = Date.now();
    const out = entries.filter((e) => isAdmissible({ available: e.available, ts: Date.parse(e.timestamp) }, now, this.env.RETENTION_MS, this.env.MAX_FUTURE_MS));
    if (out.length < entries.length) this.metrics.refusedFromPeers.inc(entries.length - out.length);
    return out;
  }

  async peers(): Promise<string[]> {
    const configured = (this.env.SYNC_PEERS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
    const live = configured.length > 0 ? [] : (await this.ring.live()).map((n) => n.id);
    return choosePeers(this.env.NODE_ID, configured, live, this.env.SYNC_PEER_COUNT);
  }

  /** Runs the handshake (one at a time; a second caller shares the run in progress). */
  run(peers?: string[]): Promise<HandshakeReport> {
    this.running ??= this.runOnce(peers).finally(() => (this.running = undefined));
    return this.running;
  }

  private async runOnce(given?: string[]): Promise<HandshakeReport> {
    const started = Date.now();
    const [out0, in0] = [this.peerClient.bytes.out, this.peerClient.bytes.in];
    const peers = given ?? (await this.peers());
    const events: HandshakeEvent[] = [];
    let results: PeerResult[];
    if (this.env.SYNC_MODE === 'serial') {
      results = [];
      for (const p of peers) results.push(await this.syncWith(p, events));
    } else {
      results = await Promise.all(peers.map((p) => this.syncWith(p, events)));
    }
    const okPeers = new Set(results.filter((r) => r.ok).map((r) => r.peer));
    const followUps: PeerResult[] = [];
    for (const p of followUpPeers(events).filter((x) => okPeers.has(x))) {
      followUps.push({ ...(await this.syncWith(p, [])), followUp: true });
    }
    const report: HandshakeReport = {
      nodeId: this.env.NODE_ID,
      mode: this.env.SYNC_MODE,
      peers: results,
      followUps,
      learned: results.reduce((a, r) => a + r.learned, 0),
      ms: Date.now() - started,
      bytesOut: this.peerClient.bytes.out - out0,
      bytesIn: this.peerClient.bytes.in - in0,
      digest: this.state.digest(),
    };
    this.metrics.handshakes.inc({ outcome: results.every((r) => r.ok) ? 'ok' : 'partial' });
    const skipped = results.filter((r) => !r.ok);
    this.log.log(`handshake with ${peers.length ? peers.join(', ') : 'nobody (first node)'}: learned ${report.learned}, ${followUps.length} follow-up(s)${skipped.length ? `, skipped ${skipped.map((r) => `${r.peer} (${r.error})`).join(', ')}` : ''} in ${report.ms} ms`);
    return report;
  }
}
