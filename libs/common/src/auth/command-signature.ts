import { KeyObject, createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { Keyring } from './keyring';

/**
 * Signed commands between our own processes: HMAC-SHA256 over a canonical form of sender,
 * receiver, command, issued-at, nonce and body, carried in one header (`farm-signature`, on an
 * AMQP message or an HTTP request):
 *
 *   v1 key=k1 from=poller-1 to=web-3 cmd=set-clock at=1764288000000 nonce=<base64url> sig=<base64url>
 *
 * The receiver checks it against its own id and the command it is serving, the keyring, a time
 * window each way and (outside this pure core) a nonce cache against replay. Pure: no I/O.
 */
export const SIGNATURE_HEADER = 'farm-signature';
export const DEFAULT_WINDOW_MS = 30_000;

export interface CommandHead {
  sender: string;
  receiver: string;
  command: string;
  /** When the sender issued it, ms since the epoch on its (corrected) clock. */
  issuedAt: number;
  nonce: string;
}

/** Why a command was refused; `replayed` is decided by the nonce cache, the rest here. */
export type RefusalReason = 'missing' | 'malformed' | 'misdirected' | 'unknown-key' | 'truncated' | 'forged' | 'stale' | 'early' | 'replayed';

export type Verdict = { ok: true; keyId: string; head: CommandHead } | { ok: false; reason: RefusalReason; message: string };

const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const NONCE = /^[A-Za-z0-9_-]{16,64}$/;
const SIG_BYTES = 32;
/** base64url without padding of SIG_BYTES bytes. */
const SIG_CHARS = Math.ceil((SIG_BYTES * 4) / 3);

/** A JSON text of `value` with every object's keys sorted, so equal values sign equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      if (i > 0) out += ',';
      out += v === undefined || typeof v === 'function' ? 'null' : canonicalJson(v);
    }
    return `${out}]`;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return canonicalJson((value as { toJSON: () => unknown }).toJSON());
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined || typeof v === 'function') continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(k)}:${canonicalJson(v)}`;
  }
  return `${out}}`;
}

/** Characters JSON.stringify leaves as they are inside a string (ids and nonces are made of these). */
const PLAIN = /^[A-Za-z0-9_.:@-]*$/;

/** The exact text that is signed: a version line, the head as a JSON array, the canonical body. */
export function canonicalCommand(head: CommandHead, body: unknown): string {
  return canonicalText(head, canonicalJson(body));
}

/** The signed text from a body already in canonical form. */
function canonicalText(head: CommandHead, canonicalBody: string, plain = false): string {
  const { sender, receiver, command, issuedAt, nonce } = head;
  // Fast path (every head that passed parsing, `plain` when the parser's expression already
  // checked each field is plain): the same text JSON.stringify gives, without building an array.
  const h = plain || (PLAIN.test(sender) && PLAIN.test(receiver) && PLAIN.test(command) && PLAIN.test(nonce) && Number.isSafeInteger(issuedAt))
    ? `["${sender}","${receiver}","${command}",${issuedAt},"${nonce}"]`
    : JSON.stringify([sender, receiver, command, issuedAt, nonce]);
  return `farm-command-v1\n${h}\n${canonicalBody}`;
}

// Each secret imported once as a key object: importing it on every HMAC costs about as much again.
const keyObjects = new WeakMap<Buffer, KeyObject>();

/**
 * The MAC of a signed text, base64url: kept a string end to end (the header carries it so),
 * because each Buffer a verification allocates costs more than its hashing once the heap is large.
 */
function macOfText(secret: Buffer, text: string): string {
  let key = keyObjects.get(secret);
  if (!key) keyObjects.set(secret, (key = createSecretKey(secret)));
  return createHmac('sha256', key).update(text, 'utf8').digest('base64url');
}

/** The MAC of a command whose body is given as a value (`plain`: the head is known to need no escaping). */
function mac(secret: Buffer, head: CommandHead, body: unknown, plain = false): string {
  return macOfText(secret, canonicalText(head, canonicalJson(body), plain));
}

/**
 * Equal texts of the same length, compared in time that depends on the length only, never on
 * where they differ (every character is looked at; no early return). Both are base64url MACs.
 */
export function sameMac(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

/** A fresh nonce: 128 random bits. */
export function newNonce(): string {
  return randomBytes(16).toString('base64url');
}

/** The `farm-signature` header for a command, signed with the ring's active key. */
export function signCommand(ring: Keyring, head: CommandHead, body: unknown): string {
  for (const [field, v] of [['sender', head.sender], ['receiver', head.receiver], ['command', head.command]] as const) {
    if (!ID.test(v)) throw new Error(`cannot sign: ${field} ${JSON.stringify(v).slice(0, 80)} is not an id ([A-Za-z0-9_.:@-]{1,128})`);
  }
  if (!NONCE.test(head.nonce)) throw new Error('cannot sign: the nonce must be 16-64 characters of base64url');
  if (!Number.isSafeInteger(head.issuedAt)) throw new Error('cannot sign: issuedAt must be an integer of ms');
  const key = ring.active;
  const sig = mac(key.secret, head, body);
  return `v1 key=${key.id} from=${head.sender} to=${head.receiver} cmd=${head.command} at=${head.issuedAt} nonce=${head.nonce} sig=${sig}`;
}

/** Signs a new command from `sender` to `receiver`, issued now on `nowMs`'s clock. */
export function signNew(ring: Keyring, sender: string, receiver: string, command: string, body: unknown, nowMs: number): string {
  return signCommand(ring, { sender, receiver, command, issuedAt: Math.trunc(nowMs), nonce: newNonce() }, body);
}

interface ParsedHeader {
  keyId: string;
  head: CommandHead;
  sig: string;
  /** Read by the one-expression reader, whose character classes are PLAIN's: the head needs no escaping. */
  plain?: true;
}

const FIELDS = ['key', 'from', 'to', 'cmd', 'at', 'nonce', 'sig'] as const;
type Field = (typeof FIELDS)[number];

/** The header exactly as signCommand writes it: one regular expression reads and checks every field. */
const AS_WRITTEN = /^v1 key=([^ =]+) from=([A-Za-z0-9_.:@-]{1,128}) to=([A-Za-z0-9_.:@-]{1,128}) cmd=([A-Za-z0-9_.:@-]{1,128}) at=(\d{1,16}) nonce=([A-Za-z0-9_-]{16,64}) sig=([A-Za-z0-9_-]+)$/;

/**
 * The header's fields, or why it cannot be read. A header as our signers write it is read by one
 * regular expression; any other (fields reordered, extra spaces or fields) by a scan that also
 * says what is wrong.
 */
export function parseSignature(header: string): ParsedHeader | { reason: 'malformed'; message: string } {
  const m = AS_WRITTEN.exec(header);
  if (m !== null) {
    const issuedAt = Number(m[5]);
    if (Number.isSafeInteger(issuedAt)) return { keyId: m[1], head: { sender: m[2], receiver: m[3], command: m[4], issuedAt, nonce: m[6] }, sig: m[7], plain: true };
  }
  return scanSignature(header);
}

/** The general reader of a header (any field order, extra fields ignored); exported for the test that it agrees with the fast one. */
export function scanSignature(header: string): ParsedHeader | { reason: 'malformed'; message: string } {
  const h = header.trim();
  const sp = h.indexOf(' ');
  const version = sp < 0 ? h : h.slice(0, sp);
  if (version !== 'v1') return { reason: 'malformed', message: `unknown signature version ${JSON.stringify(version.slice(0, 16))}` };
  const f: Partial<Record<Field, string>> = {};
  for (let i = sp + 1; sp > 0 && i < h.length; ) {
    if (h.charCodeAt(i) === 32) {
      i++;
      continue;
    }
    let end = h.indexOf(' ', i);
    if (end < 0) end = h.length;
    const eq = h.indexOf('=', i);
    if (eq <= i || eq >= end) return { reason: 'malformed', message: 'a signature field is not name=value' };
    const name = h.slice(i, eq) as Field;
    if ((FIELDS as readonly string[]).includes(name)) {
      if (f[name] !== undefined) return { reason: 'malformed', message: `signature field ${name} appears twice` };
      f[name] = h.slice(eq + 1, end);
    }
    i = end + 1;
  }
  for (const name of FIELDS) {
    if (!f[name]) return { reason: 'malformed', message: `the signature has no ${name}` };
  }
  const { key, from, to, cmd, at, nonce, sig } = f as Record<Field, string>;
  const issuedAt = /^\d{1,16}$/.test(at) ? Number(at) : NaN;
  if (!Number.isSafeInteger(issuedAt)) return { reason: 'malformed', message: 'the signature time (at) is not an integer of ms' };
  if (!ID.test(from) || !ID.test(to) || !ID.test(cmd)) return { reason: 'malformed', message: 'the signature names a sender, receiver or command that is not an id' };
  if (!NONCE.test(nonce)) return { reason: 'malformed', message: 'the signature nonce is not 16-64 characters of base64url' };
  return { keyId: key, head: { sender: from, receiver: to, command: cmd, issuedAt, nonce }, sig };
}

/**
 * Checks a command's `farm-signature` header: meant for this receiver (any of its ids) and command, by a key of
 * the ring, the MAC of this body (compared in constant time), issued within `windowMs` of `nowMs`
 * either way. Replay (a nonce seen before) is for the caller's nonce cache to refuse. `rawBody`,
 * the text `body` was parsed from, lets a body sent in canonical form skip recomputing it.
 */
export function verifyCommand(ring: Keyring, header: string | undefined, expected: { receiver: string | readonly string[]; command: string }, body: unknown, nowMs: number, windowMs = DEFAULT_WINDOW_MS, rawBody?: string): Verdict {
  if (header === undefined || header === '') return { ok: false, reason: 'missing', message: `the command carries no ${SIGNATURE_HEADER}` };
  const parsed = parseSignature(header);
  if ('reason' in parsed) return { ok: false, reason: parsed.reason, message: parsed.message };
  const { head, keyId } = parsed;
  const forUs = typeof expected.receiver === 'string' ? head.receiver === expected.receiver : expected.receiver.includes(head.receiver);
  if (!forUs || head.command !== expected.command) {
    const us = typeof expected.receiver === 'string' ? expected.receiver : expected.receiver[0];
    return { ok: false, reason: 'misdirected', message: `signed as ${head.command} for ${head.receiver}, received as ${expected.command} by ${us}` };
  }
  const key = ring.get(keyId);
  if (!key) return { ok: false, reason: 'unknown-key', message: `signed with key ${keyId.slice(0, 32)}, which this keyring does not hold` };
  const sig = parsed.sig;
  if (sig.length !== SIG_CHARS) return { ok: false, reason: 'truncated', message: `the signature is ${Math.floor((sig.length * 3) / 4)} bytes, not ${SIG_BYTES}` };
  // Fast path: a sender that sent the canonical form itself (ours do) is checked over the bytes it
  // sent; they parse to `body`. Anything else is checked over the canonical form of `body`.
  const matches = (rawBody !== undefined && sameMac(sig, macOfText(key.secret, canonicalText(head, rawBody, parsed.plain)))) || sameMac(sig, mac(key.secret, head, body, parsed.plain));
  if (!matches) return { ok: false, reason: 'forged', message: `the signature does not match the command (key ${keyId})` };
  if (head.issuedAt < nowMs - windowMs) return { ok: false, reason: 'stale', message: `issued ${nowMs - head.issuedAt} ms ago; the window is ${windowMs} ms` };
  if (head.issuedAt > nowMs + windowMs) return { ok: false, reason: 'early', message: `issued ${head.issuedAt - nowMs} ms ahead of this receiver's clock; the window is ${windowMs} ms` };
  return { ok: true, keyId, head };
}

/**
 * What an HTTP command's signature covers: its query parameters and its JSON body (null when it
 * has none). The receiver builds it from the request as it arrived (the raw body, a Buffer), the
 * sender from what it sends; both give the same canonical form.
 */
export function httpCommandBody(query: Record<string, unknown>, body?: unknown): { query: Record<string, unknown>; body: unknown } {
  let parsed: unknown = body ?? null;
  if (Buffer.isBuffer(body)) {
    if (body.length === 0) parsed = null;
    else {
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        parsed = body.toString('base64');
      }
    }
  } else if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) && Object.keys(parsed).length === 0) {
    // No body at all: Express leaves an empty object (or nothing) where a parser did not run.
    parsed = null;
  }
  return { query: { ...query }, body: parsed };
}
