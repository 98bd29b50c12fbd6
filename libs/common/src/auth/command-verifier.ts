import type Redis from 'ioredis';
import { nonceKey } from '../contracts/topology';
import { CommandHead, DEFAULT_WINDOW_MS, RefusalReason, SIGNATURE_HEADER, Verdict, httpCommandBody, signNew, verifyCommand } from './command-signature';
import { Keyring } from './keyring';

/** Remembers the nonces of accepted commands long enough that a replay is still inside its window. */
export interface NonceCache {
  /** True the first time a nonce is claimed within `ttlMs`; false for a replay. Throws when it cannot tell (trouble). */
  claim(receiver: string, head: CommandHead, ttlMs: number): Promise<boolean>;
}

/** Nonces in Redis: `SET key 1 NX PX ttl`, so every process of the farm shares one memory of them. */
export class RedisNonceCache implements NonceCache {
  constructor(
    private readonly redis: Redis,
    private readonly ns: string,
  ) {}

  async claim(receiver: string, head: CommandHead, ttlMs: number): Promise<boolean> {
    const ok = await this.redis.set(nonceKey(this.ns, receiver, head.sender, head.nonce), '1', 'PX', ttlMs, 'NX');
    return ok === 'OK';
  }
}

/** What a refused command was, for counters, logs and the operators' feed: never a signature or a body. */
export interface RefusedCommand {
  receiver: string;
  command: string;
  reason: RefusalReason;
  message: string;
  /** The sender the header claims (unproven: the command was refused). */
  claimedSender?: string;
}

export interface VerifierOptions {
  /** This process's id: commands signed for anyone else are refused. */
  receiver: string;
  /** Other ids this process answers to (a node also answers to its server's id). */
  aliases?: readonly string[];
  keyring: Keyring;
  nonces: NonceCache;
  /** The receiver's clock in ms (the poller-corrected one where there is one). */
  now: () => number;
  windowMs?: number;
  /** Called for each refusal (log it, count it, raise it to operators). */
  onRefused?: (r: RefusedCommand) => void;
  /** Called for each command accepted (count it). */
  onAccepted?: (command: string, sender: string) => void;
}

/**
 * The receiving side of a signed command: the pure check (signature, receiver, command, window),
 * then the nonce cache against replay. Counts refusals by reason for `/metrics`. A nonce cache
 * that cannot answer (Redis away) throws: that is trouble, never a refusal.
 */
export class CommandVerifier {
  private readonly refusedCounts = new Map<RefusalReason, number>();
  private acceptedCount = 0;
  private readonly windowMs: number;
  /** Its own id first (named in refusals), then its aliases. */
  private readonly ids: readonly string[];

  constructor(private readonly opts: VerifierOptions) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.ids = [opts.receiver, ...(opts.aliases ?? []).filter((a) => a !== opts.receiver)];
  }

  get receiver(): string {
    return this.opts.receiver;
  }

  async verify(header: string | undefined, command: string, body: unknown): Promise<Verdict> {
    const v = verifyCommand(this.opts.keyring, header, { receiver: this.ids, command }, body, this.opts.now(), this.windowMs);
    if (!v.ok) return this.refuse(command, v.reason, v.message, header);
    // Long enough that the same command, replayed, is stale before its nonce is forgotten.
    if (!(await this.opts.nonces.claim(v.head.receiver, v.head, 2 * this.windowMs + 1000))) {
      return this.refuse(command, 'replayed', `nonce ${v.head.nonce} from ${v.head.sender} was used before`, header);
    }
    this.acceptedCount++;
    this.opts.onAccepted?.(command, v.head.sender);
    return v;
  }

  /** Accepted commands, and refusals by reason. */
  counts(): { accepted: number; refused: Partial<Record<RefusalReason, number>> } {
    return { accepted: this.acceptedCount, refused: Object.fromEntries(this.refusedCounts) };
  }

  private refuse(command: string, reason: RefusalReason, message: string, header: string | undefined): Verdict {
    this.refusedCounts.set(reason, (this.refusedCounts.get(reason) ?? 0) + 1);
    const claimed = header ? /\bfrom=([A-Za-z0-9_.:@-]{1,128})(\s|$)/.exec(header)?.[1] : undefined;
    this.opts.onRefused?.({ receiver: this.opts.receiver, command, reason, message, claimedSender: claimed });
    return { ok: false, reason, message };
  }
}

/** The sending side: signs each command as `sender`, for its receiver, on the sender's clock. */
export class CommandSigner {
  constructor(
    readonly sender: string,
    private readonly keyring: Keyring,
    private readonly now: () => number,
  ) {}

  /** The `farm-signature` header for `command` with `body` to `receiver`. */
  sign(receiver: string, command: string, body: unknown): string {
    return signNew(this.keyring, this.sender, receiver, command, body, this.now());
  }

  /** The header of an HTTP command to `receiver`: over its query parameters and JSON body (see httpCommandBody). */
  httpHeaders(receiver: string, command: string, query: Record<string, string>, body?: unknown): Record<string, string> {
    return { [SIGNATURE_HEADER]: this.sign(receiver, command, httpCommandBody(query, body === undefined ? null : body)) };
  }
}
