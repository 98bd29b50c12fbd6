import { CommandHead, Verdict, newNonce, signCommand, verifyCommand } from '../auth/command-signature';
import type { Keyring } from '../auth/keyring';
import type { Alternate, ServerRef } from './alternates';
import type { ComponentScore } from './load-score';

/**
 * What a server's attendant tells a client: move (failover, command `failover.defer`) or come
 * back (invitation, `failover.invite`). Both are signed commands of the farm's keyring from the
 * server's id to the client's id, and the whole message is the signed body, so the server's and
 * the client's addresses, the alternates, the reason and the score are all covered, beside the
 * issued-at and nonce of the signature itself. A forged "move" is a denial of service, so the
 * client acts on nothing that does not verify. Replay is for the client's nonce cache. Pure.
 */

export const FAILOVER_COMMAND = 'failover.defer';
export const INVITE_COMMAND = 'failover.invite';

export interface FailoverMessage {
  kind: 'failover';
  server: ServerRef;
  client: ServerRef;
  /** Where to go, best first; empty when the server knows none (the client then uses its own list). */
  alternates: Alternate[];
  /** Why, for the client's log and the operators: `load`, `mandatory-down: radius`, ... */
  reason: string;
  score: number;
  components: ComponentScore[];
}

export interface InvitationMessage {
  kind: 'invitation';
  server: ServerRef;
  client: ServerRef;
}

export type ClientMessage = FailoverMessage | InvitationMessage;

export type MessageVerdict<M extends ClientMessage = ClientMessage> =
  | { ok: true; keyId: string; head: CommandHead; message: M }
  | Extract<Verdict, { ok: false }>;

export function commandOf(message: Pick<ClientMessage, 'kind'>): string {
  return message.kind === 'failover' ? FAILOVER_COMMAND : INVITE_COMMAND;
}

/** The signature header of a message, from its server to its client, issued at `nowMs`. */
export function signClientMessage(ring: Keyring, message: ClientMessage, nowMs: number, nonce: string = newNonce()): string {
  const head: CommandHead = { sender: message.server.id, receiver: message.client.id, command: commandOf(message), issuedAt: Math.trunc(nowMs), nonce };
  return signCommand(ring, head, message);
}

const isRef = (v: unknown): v is ServerRef =>
  v !== null && typeof v === 'object' && typeof (v as ServerRef).id === 'string' && typeof (v as ServerRef).address === 'string';

/** Whether a received value has the shape of a client message (the fields the checks below read). */
export function isClientMessage(v: unknown): v is ClientMessage {
  if (v === null || typeof v !== 'object') return false;
  const m = v as Omit<Partial<FailoverMessage>, 'kind'> & { kind?: unknown };
  if (!isRef(m.server) || !isRef(m.client)) return false;
  if (m.kind === 'invitation') return true;
  return m.kind === 'failover' && Array.isArray(m.alternates) && m.alternates.every(isRef) && typeof m.reason === 'string' && typeof m.score === 'number' && Array.isArray(m.components);
}

/**
 * Checks a message received by the client `me`: a client message, signed by a key of the ring for
 * this client and this kind of message, within the time window, by the server the message names,
 * and addressed to this client's own address. A valid signature on a message naming someone
 * else's address is `misdirected`: it was meant for another place.
 */
export function verifyClientMessage(ring: Keyring, header: string | undefined, received: unknown, me: ServerRef, nowMs: number, windowMs?: number, rawBody?: string): MessageVerdict {
  if (!isClientMessage(received)) return { ok: false, reason: 'malformed', message: 'not a failover or invitation message' };
  const v = verifyCommand(ring, header, { receiver: me.id, command: commandOf(received) }, received, nowMs, windowMs, rawBody);
  if (!v.ok) return v;
  if (v.head.sender !== received.server.id) {
    return { ok: false, reason: 'misdirected', message: `signed by ${v.head.sender}, but the message names server ${received.server.id}` };
  }
  if (received.client.id !== me.id || received.client.address !== me.address) {
    return { ok: false, reason: 'misdirected', message: `meant for ${received.client.id} at ${received.client.address}, received by ${me.id} at ${me.address}` };
  }
  return { ok: true, keyId: v.keyId, head: v.head, message: received };
}
