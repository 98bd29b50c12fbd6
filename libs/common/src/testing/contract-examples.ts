/**
 * Example requests of the shared contract (`CONTRACT.md`, kept in the project's shared folder
 * beside this repository): every HTTP endpoint it names, as a request a client would send, with
 * the bodies its notification table and its `farmctl notify` examples describe. They are written
 * out here because a clone of the repository need not have the contract beside it; the OpenAPI
 * test checks that each one validates against the apps' documents, and, where the contract is
 * there to read, that every endpoint it names has an example here.
 */
export interface ExampleRequest {
  app: 'notifier' | 'repeater' | 'poller' | 'attendant';
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** A concrete path, as sent. */
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  /** Where in the contract it comes from. */
  from: string;
}

/**
 * The HTTP endpoints the contract (`../shared/CONTRACT.md`, beside the repository) names, by the
 * app whose section names them: the list a clone without that folder (CI's) checks the examples
 * against. Where the contract is present, a test checks that this list is still what it names.
 */
export const CONTRACT_ENDPOINTS: { app: ExampleRequest['app']; method: string; path: string }[] = [
  { app: 'notifier', method: 'POST', path: '/v1/notifications' },
  { app: 'notifier', method: 'GET', path: '/v1/health' },
  { app: 'repeater', method: 'GET', path: '/v1/availability' },
  { app: 'repeater', method: 'GET', path: '/v1/availability/:target' },
  { app: 'repeater', method: 'POST', path: '/v1/sync' },
  { app: 'repeater', method: 'GET', path: '/v1/health' },
  { app: 'repeater', method: 'GET', path: '/metrics' },
  { app: 'repeater', method: 'GET', path: '/apps/:application/...' },
  { app: 'poller', method: 'GET', path: '/v1/servers' },
  { app: 'poller', method: 'GET', path: '/v1/servers/:id' },
  { app: 'poller', method: 'POST', path: '/v1/servers/:id/poll' },
  { app: 'repeater', method: 'GET', path: '/v1/ring' },
  { app: 'repeater', method: 'GET', path: '/v1/servers/live' },
];

export const CONTRACT_EXAMPLES: ExampleRequest[] = [
  {
    app: 'notifier', method: 'POST', path: '/v1/notifications', from: '`farmctl notify --target mail --down --reason maintenance --until ISO --message TEXT --kind send`',
    body: { target: 'mail', available: false, reason: 'maintenance', expectedUpAt: '2026-11-27T14:00:00.000Z', message: 'mailbox migration', requestKinds: ['send'] },
  },
  { app: 'notifier', method: 'POST', path: '/v1/notifications', from: '`farmctl notify --target mail --up`', body: { target: 'mail', available: true } },
  {
    app: 'notifier', method: 'POST', path: '/v1/notifications', from: 'the notification table, every field',
    body: {
      target: 'db-main', targetType: 'resource', available: false, reason: 'outage', component: 'disk', message: 'disk swap', operatorId: 'ops-7', source: 'monitor',
      downAt: '2026-11-27T12:00:00+01:00', expectedUpAt: '2026-11-27T16:00:00Z', autoRestore: true, requestKinds: ['send', 'read'], timestamp: '2026-11-27T11:59:00.123Z', id: 'n-42', priority: 9,
    },
  },
  { app: 'notifier', method: 'POST', path: '/v1/notifications', from: 'the notification table: `"*"` = the whole system', body: { target: '*', available: false, reason: 'testing' } },
  { app: 'notifier', method: 'GET', path: '/v1/health', from: 'Notifier' },
  { app: 'repeater', method: 'GET', path: '/v1/availability', from: 'Repeater' },
  { app: 'repeater', method: 'GET', path: '/v1/availability/mail', query: { kind: 'send' }, from: 'Repeater: `GET /v1/availability/:target?kind=K`' },
  { app: 'repeater', method: 'POST', path: '/v1/sync', from: 'Repeater' },
  { app: 'repeater', method: 'GET', path: '/v1/health', from: 'Repeater' },
  { app: 'repeater', method: 'GET', path: '/metrics', from: 'Repeater' },
  { app: 'repeater', method: 'GET', path: '/apps/mail/send', from: 'Repeater: `GET /apps/:application/...` demo routes' },
  { app: 'repeater', method: 'GET', path: '/v1/ring', from: 'Buddy ring' },
  { app: 'repeater', method: 'GET', path: '/v1/servers/live', from: 'Buddy ring' },
  { app: 'poller', method: 'GET', path: '/v1/servers', from: 'Poller' },
  { app: 'poller', method: 'GET', path: '/v1/servers/node-1', from: 'Poller: `GET /v1/servers/:id`' },
  { app: 'poller', method: 'POST', path: '/v1/servers/node-1/poll', from: 'Poller: `POST /v1/servers/:id/poll`' },
];

/** Requests our own README adds (query options of the endpoints above, and the routes we added). */
export const README_EXAMPLES: ExampleRequest[] = [
  { app: 'repeater', method: 'GET', path: '/v1/availability', query: { limit: '500', after: 'application|mail|*' }, from: 'README: paged availability' },
  { app: 'repeater', method: 'GET', path: '/v1/availability/db-main', query: { targetType: 'resource' }, from: 'README: a resource lookup' },
  { app: 'repeater', method: 'POST', path: '/v1/sync', query: { peers: 'node-2,node-3' }, from: 'README: `POST /v1/sync[?peers=a,b]`' },
  { app: 'repeater', method: 'POST', path: '/v1/ring/probe', query: { target: 'node-2' }, from: 'README: `POST /v1/ring/probe?target=id`' },
  { app: 'repeater', method: 'POST', path: '/v1/ring/replace', query: { old: 'node-2', next: 'node-3' }, from: 'README: `POST /v1/ring/replace?old=a&next=b`' },
  { app: 'poller', method: 'DELETE', path: '/v1/servers/node-1', from: 'README: `DELETE /v1/servers/:id`' },
];

/**
 * Bodies that must be refused, each for one reason the contract gives: the document must refuse
 * them too, or it promises more than the apps take.
 */
export const BROKEN_NOTIFICATIONS: { body: unknown; why: string }[] = [
  { body: { target: 'mail' }, why: '`available` is required' },
  { body: { target: 'mail', available: 'no' }, why: '`available` is a boolean' },
  { body: { target: 'mail', available: false, colour: 'red' }, why: 'unknown fields are refused' },
  { body: { target: 'mail', available: false, reason: 'holiday' }, why: '`reason` is one of four' },
  { body: { target: 'mail server', available: false }, why: '`target` is [A-Za-z0-9._:-]{1,128} or "*"' },
  { body: { target: 'mail', available: false, priority: 10 }, why: '`priority` is 0-9' },
  { body: { target: 'mail', available: false, expectedUpAt: '2026-11-27T14:00:00' }, why: 'a time without a zone' },
  { body: { target: 'mail', available: false, message: 'x'.repeat(1001) }, why: '`message` is at most 1000 characters' },
  { body: { target: 'mail', available: false, requestKinds: ['send', 'no spaces'] }, why: 'a request kind is [A-Za-z0-9._:-]{1,64}' },
];
