/** Names of every exchange, queue and Redis key, derived from the farm namespace. */

export const INGRESS_ROUTING_KEY = 'notification';
/** Routing key of urgent notifications on `<ns>.ingress`: they go to `<ns>.ingress.urgent`, which nodes take beside the ordinary queue. */
export const INGRESS_URGENT_ROUTING_KEY = 'notification.urgent';
export const REJECT_REASON_HEADER = 'x-reject-reason';
export const ORIGIN_HEADER = 'x-origin-node';
/** Highest priority on the wire (the contract's 0-9). */
export const MAX_PRIORITY = 9;
/**
 * From this priority on a notification travels the urgent lane. The broker's queues carry no
 * priorities (RabbitMQ keeps one internal queue per level, which costs every message, and
 * quorum queues have none before 4.0); instead each queue that can hold a backlog has an urgent
 * twin that its node consumes beside it, so an urgent notification waits behind at most the
 * deliveries already in the node's hands (its prefetch), never behind the backlog. Within a lane
 * order is first in, first out; across lanes the timestamp decides, as everywhere.
 */
export const URGENT_PRIORITY = 5;

export type Lane = 'ordinary' | 'urgent';

/** The lane of a priority: 0-4 ordinary, 5-9 urgent. */
export function laneOf(priority: number): Lane {
  return priority >= URGENT_PRIORITY ? 'urgent' : 'ordinary';
}

export interface Topology {
  ns: string;
  ingressExchange: string;
  ingressQueue: string;
  /** Urgent notifications from producers (routing key `notification.urgent`). */
  ingressUrgentQueue: string;
  fanoutExchange: string;
  /** Urgent re-broadcasts; bound to `fanoutExchange` too, so the ordinary lane alone still carries everything. */
  fanoutUrgentExchange: string;
  deadLetterExchange: string;
  deadQueue: string;
  nodeQueue(nodeId: string): string;
  /** A node's urgent twin of its queue, fed by `fanoutUrgentExchange`. */
  nodeUrgentQueue(nodeId: string): string;
  rpcQueue(nodeId: string): string;
  attendantQueue(serverId: string): string;
}

export function topology(ns: string): Topology {
  return {
    ns,
    ingressExchange: `${ns}.ingress`,
    ingressQueue: `${ns}.ingress`,
    ingressUrgentQueue: `${ns}.ingress.urgent`,
    fanoutExchange: `${ns}.fanout`,
    fanoutUrgentExchange: `${ns}.fanout.urgent`,
    deadLetterExchange: `${ns}.dlx`,
    deadQueue: `${ns}.dead`,
    nodeQueue: (id) => `${ns}.node.${id}`,
    nodeUrgentQueue: (id) => `${ns}.node.${id}.urgent`,
    rpcQueue: (id) => `${ns}.rpc.${id}`,
    attendantQueue: (id) => `${ns}.attendant.${id}`,
  };
}

export interface NodeKeys {
  /** Hash: entry key -> canonical entry JSON. */
  entries: string;
  /** List: newest-first audit trail of applied notifications, capped. */
  audit: string;
  /** String: present while Redis still holds this node's state (absent after a Redis wipe). */
  marker: string;
}

export function redisKeys(ns: string, nodeId: string): NodeKeys {
  return {
    entries: `${ns}:node:${nodeId}:entries`,
    audit: `${ns}:node:${nodeId}:audit`,
    marker: `${ns}:node:${nodeId}:marker`,
  };
}

/** The buddy ring's server table: nodeId -> JSON {address, buddyA, buddyB}. */
export function ringKey(ns: string): string {
  return `${ns}:ring`;
}

/** String with a TTL, one per signed command received: `<ns>:nonce:<receiver>:<sender>:<nonce>` (replay guard). */
export function nonceKey(ns: string, receiver: string, sender: string, nonce: string): string {
  return `${ns}:nonce:${receiver}:${sender}:${nonce}`;
}

/** Stream: refused signed commands and re-broadcasts of the whole farm, capped (see RefusalLog); the poller's feed follows it. */
export function refusalsKey(ns: string): string {
  return `${ns}:refusals`;
}

/** Monitoring keys: the attendants' registry, clock corrections and the poller's lists. */
export interface MonitoringKeys {
  /** Hash: serverId -> JSON registration {serverId, queue, httpUrl?, registeredAt, lastSeenAt}. */
  attendants: string;
  /** String per server: the correction (ms) added to its system clock. */
  clock(serverId: string): string;
  /** Hash: serverId -> JSON ServerRecord (list level, deficiencies, next poll, last compilation). */
  pollerServers: string;
  /** String: JSON AppHealth (hysteresis state and the poller's published notifications). */
  pollerHealth: string;
  /** String with a TTL: the id of the active poller (the others stand by). */
  pollerLease: string;
  /** Hash: serverId -> JSON PublishedLoad {id, address, score, zone, at}: each attendant's latest load (issue 12). */
  load: string;
}

export function monitoringKeys(ns: string): MonitoringKeys {
  return {
    attendants: `${ns}:attendants`,
    clock: (id) => `${ns}:clock:${id}`,
    pollerServers: `${ns}:poller:servers`,
    pollerHealth: `${ns}:poller:health`,
    pollerLease: `${ns}:poller:lease`,
    load: `${ns}:load`,
  };
}

/** The attendant's mailbox, read by its login probe with the probe's own credentials. */
export function mailboxQueue(ns: string, serverId: string): string {
  return `${ns}.attendant.${serverId}.mailbox`;
}

/** Load-aware failover (issue 12): each client's queue, each server's registered clients, and the clients it deferred. */
export function failoverKeys(ns: string): { clientQueue(clientId: string): string; clients(serverId: string): string; deferred(serverId: string): string } {
  return {
    clientQueue: (id) => `${ns}.client.${id}`,
    /** Hash: clientId -> JSON ClientRegistration. */
    clients: (id) => `${ns}:clients:${id}`,
    /** Hash: clientId -> JSON {at, address}: when this server deferred it, and where it was (the reconnection plan's waiting list). */
    deferred: (id) => `${ns}:deferred:${id}`,
  };
}
