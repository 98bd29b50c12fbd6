import { createHash, randomBytes } from 'node:crypto';
import { failoverKeys, topology } from '../contracts/topology';

/**
 * Broker users with least privilege: one RabbitMQ user per farm process, named after its role,
 * allowed only the exchanges and queues that role uses. The broker enforces it (a monitor that
 * publishes to the fanout exchange has its channel closed with ACCESS_REFUSED), and it lets a
 * node trust a re-broadcast's origin: only node users may publish to the fanout, and RabbitMQ
 * checks a message's `user_id` against the user of the connection that published it.
 *
 * This file is pure: names, permission patterns, password hashes and a definitions document that
 * `rabbitmqctl import_definitions` (or the management API, or `load_definitions` at boot) applies.
 */

/**
 * - `node`: a repeater; declares the shared topology and its own queues, consumes the ingress
 *   queue and its own queues, publishes to the fanout, the dead-letter exchange and (for RPC and
 *   replies) the default exchange.
 * - `notifier`, `poller`: declare the shared topology and publish to the ingress exchange; the
 *   poller also sends RPC requests to attendants through the default exchange.
 * - `attendant`: its own request queue and mailbox; replies through the default exchange.
 * - `monitor`: an outside monitoring system; may only publish to the ingress exchange.
 * - `client`: one service using the failover client library, as client `<id>`: it declares and
 *   consumes its own queue `<ns>.client.<id>` only, and publishes nothing (another client's
 *   messages are out of its reach).
 * - `clients`: a process hosting many such clients (any `<ns>.client.*` queue); prefer `client`.
 */
export type BrokerRole = 'node' | 'notifier' | 'poller' | 'attendant' | 'monitor' | 'client' | 'clients';

export const BROKER_ROLES: readonly BrokerRole[] = ['node', 'notifier', 'poller', 'attendant', 'monitor', 'client', 'clients'];

/** Roles with one user per process: the id (NODE_ID, SERVER_ID, the client's id) is part of the user's name. */
const PER_ID: ReadonlySet<BrokerRole> = new Set(['node', 'attendant', 'client']);

/** A user's name and its permissions on the farm's virtual host (regular expressions, as RabbitMQ takes them). */
export interface BrokerGrant {
  role: BrokerRole;
  id?: string;
  user: string;
  configure: string;
  write: string;
  read: string;
}

/** The broker user of a farm process: `<ns>.node.<NODE_ID>`, `<ns>.attendant.<SERVER_ID>`, `<ns>.client.<id>`, `<ns>.notifier`, `<ns>.poller`, `<ns>.monitor`. */
export function brokerUser(ns: string, role: BrokerRole, id?: string): string {
  if (PER_ID.has(role)) {
    if (!id) throw new Error(`a ${role} broker user needs the ${role}'s id`);
    return `${ns}.${role}.${id}`;
  }
  return `${ns}.${role}`;
}

/** A string as a regular expression matching exactly it. */
export function exactly(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A pattern matching exactly the given names (none: a pattern that matches nothing). */
function only(names: string[]): string {
  return names.length === 0 ? '^$' : `^(${names.map(exactly).join('|')})$`;
}

/** The default exchange, through which RPC requests and replies (direct reply-to) are published. */
const DEFAULT_EXCHANGE = 'amq.default';

/**
 * What each role may do. Queue binds need write on the queue and read on the exchange, and the
 * ingress exchange and queue share one name, so a role that declares the shared topology may
 * also read `<ns>.ingress`; declaring (non-passively) needs configure even when the object
 * exists. Consuming from direct reply-to needs no permission.
 */
export function brokerGrant(ns: string, role: BrokerRole, id?: string): BrokerGrant {
  const t = topology(ns);
  const user = brokerUser(ns, role, id);
  const shared = [t.deadLetterExchange, t.deadQueue, t.ingressExchange, t.ingressUrgentQueue, t.fanoutExchange, t.fanoutUrgentExchange];
  const sharedWrite = [t.deadQueue, t.ingressQueue, t.ingressUrgentQueue];
  const sharedRead = [t.deadLetterExchange, t.ingressExchange];
  switch (role) {
    case 'node': {
      const own = [t.nodeQueue(id as string), t.nodeUrgentQueue(id as string), t.rpcQueue(id as string)];
      return {
        role, id, user,
        configure: only([...shared, ...own]),
        write: only([...sharedWrite, t.deadLetterExchange, t.fanoutExchange, t.fanoutUrgentExchange, t.nodeQueue(id as string), t.nodeUrgentQueue(id as string), DEFAULT_EXCHANGE]),
        read: only([...sharedRead, t.ingressUrgentQueue, t.fanoutExchange, t.fanoutUrgentExchange, ...own]),
      };
    }
    case 'notifier':
      return { role, user, configure: only(shared), write: only(sharedWrite), read: only(sharedRead) };
    case 'poller':
      return { role, user, configure: only(shared), write: only([...sharedWrite, DEFAULT_EXCHANGE]), read: only(sharedRead) };
    case 'attendant': {
      const own = [t.attendantQueue(id as string), `${t.attendantQueue(id as string)}.mailbox`];
      return { role, id, user, configure: only(own), write: only([DEFAULT_EXCHANGE]), read: only(own) };
    }
    case 'monitor':
      return { role, user, configure: only([]), write: only([t.ingressExchange]), read: only([]) };
    case 'client': {
      const own = [failoverKeys(ns).clientQueue(id as string)];
      return { role, id, user, configure: only(own), write: only([]), read: only(own) };
    }
    case 'clients': {
      const own = `^${exactly(`${ns}.client.`)}[A-Za-z0-9_.:@-]{1,128}$`;
      return { role, user, configure: own, write: only([]), read: own };
    }
  }
}

/** RabbitMQ's `rabbit_password_hashing_sha256`: base64 of a 4-byte salt followed by SHA-256(salt + password). */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  return Buffer.concat([salt, createHash('sha256').update(Buffer.concat([salt, Buffer.from(password, 'utf8')])).digest()]).toString('base64');
}

/** A random password for a broker user (URL-safe). */
export function newBrokerPassword(): string {
  return randomBytes(24).toString('base64url');
}

/** A user and its password, for the definitions and for the process's RABBITMQ_URL. */
export interface BrokerAccount extends BrokerGrant {
  password: string;
}

/** The definitions document (users and their permissions on `vhost`) that `rabbitmqctl import_definitions` applies; other users are left as they are. */
export function brokerDefinitions(accounts: BrokerAccount[], vhost = '/'): { users: object[]; permissions: object[] } {
  return {
    users: accounts.map((a) => ({ name: a.user, password_hash: rabbitPasswordHash(a.password), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: [] })),
    permissions: accounts.map((a) => ({ user: a.user, vhost, configure: a.configure, write: a.write, read: a.read })),
  };
}

/** `url` with its user and password replaced (the rest, host, port and vhost, kept). */
export function brokerUrlFor(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** The user a broker URL authenticates as (amqplib's default, guest, when it names none). */
export function brokerUrlUser(url: string): string {
  const u = new URL(url);
  return u.username ? decodeURIComponent(u.username) : 'guest';
}

/** How the farm's processes meet the broker: each as its own user (`per-process`), or all as one (`shared`, development). */
export type BrokerUsersMode = 'per-process' | 'shared';

/** What a node knows to check a re-broadcast's origin. */
export interface OriginPolicy {
  ns: string;
  /** `per-process`: the publishing user must be the origin node's; `shared`: only the origin header is required. */
  mode: BrokerUsersMode;
}

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Why a re-broadcast is refused, or undefined when it comes from the node it names: it must name
 * its origin node in `x-origin-node`, and (per-process users) carry the `user_id` of that node's
 * broker user, which RabbitMQ has already checked against the connection that published it.
 */
export function originRefusal(origin: unknown, userId: unknown, policy: OriginPolicy): string | undefined {
  if (typeof origin !== 'string' || !NODE_ID.test(origin)) return 'a re-broadcast must name its origin node in the x-origin-node header';
  if (policy.mode === 'shared') return undefined;
  const expected = brokerUser(policy.ns, 'node', origin);
  if (typeof userId !== 'string' || userId.length === 0) return `a re-broadcast claiming origin ${origin} carries no user_id (expected ${expected})`;
  if (userId !== expected) return `a re-broadcast claiming origin ${origin} was published by broker user ${userId.slice(0, 100)}, not ${expected}`;
  return undefined;
}
