import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { topology } from '../contracts/topology';
import { BROKER_ROLES, BrokerRole, brokerDefinitions, brokerGrant, brokerUrlFor, brokerUrlUser, brokerUser, exactly, originRefusal, rabbitPasswordHash } from './broker-users';

const NS = 'farm.prod';
const t = topology(NS);

/** Whether a permission pattern lets a user at the named resource (as RabbitMQ matches them: a regular expression against the name). */
const allows = (pattern: string, resource: string) => new RegExp(pattern).test(resource);

function grant(role: BrokerRole, id?: string) {
  return brokerGrant(NS, role, id);
}

describe('broker users', () => {
  it('names each process after its role, namespace and id', () => {
    expect(brokerUser(NS, 'node', 'n1')).toBe('farm.prod.node.n1');
    expect(brokerUser(NS, 'attendant', 'web-3')).toBe('farm.prod.attendant.web-3');
    expect(brokerUser(NS, 'monitor')).toBe('farm.prod.monitor');
    expect(() => brokerUser(NS, 'node')).toThrow("a node broker user needs the node's id");
  });

  it('lets only nodes publish to the fanout exchanges, ordinary and urgent', () => {
    for (const exchange of [t.fanoutExchange, t.fanoutUrgentExchange]) {
      expect(BROKER_ROLES.filter((r) => allows(grant(r, 'x').write, exchange))).toEqual(['node']);
    }
  });

  it('lets a monitor publish to the ingress exchange and do nothing else', () => {
    const m = grant('monitor');
    expect(allows(m.write, t.ingressExchange)).toBe(true);
    for (const r of [t.fanoutExchange, t.fanoutUrgentExchange, 'amq.default', t.deadLetterExchange, t.nodeQueue('n1'), t.ingressUrgentQueue, `${t.ingressExchange}x`]) expect(allows(m.write, r)).toBe(false);
    expect(m.configure).toBe('^$');
    expect(m.read).toBe('^$');
    expect(allows(m.read, '')).toBe(true); // '^$' matches only the empty name, which no resource has
  });

  it('lets a node read its own queues only, not another node\'s', () => {
    const n1 = grant('node', 'n1');
    expect(allows(n1.read, t.nodeQueue('n1'))).toBe(true);
    expect(allows(n1.read, t.nodeUrgentQueue('n1'))).toBe(true);
    expect(allows(n1.read, t.ingressUrgentQueue)).toBe(true);
    expect(allows(n1.read, t.nodeUrgentQueue('n2'))).toBe(false);
    expect(allows(n1.configure, t.nodeUrgentQueue('n2'))).toBe(false);
    expect(allows(n1.read, t.rpcQueue('n1'))).toBe(true);
    expect(allows(n1.read, t.ingressQueue)).toBe(true);
    expect(allows(n1.read, t.nodeQueue('n2'))).toBe(false);
    expect(allows(n1.read, t.rpcQueue('n2'))).toBe(false);
    expect(allows(n1.read, t.nodeQueue('n10'))).toBe(false);
    expect(allows(n1.configure, t.nodeQueue('n2'))).toBe(false);
  });

  it('keeps one failover client to its own queue: not another client\'s, publishing nothing', () => {
    const c = grant('client', 'web-7');
    expect(c.user).toBe('farm.prod.client.web-7');
    expect(allows(c.read, 'farm.prod.client.web-7')).toBe(true);
    expect(allows(c.configure, 'farm.prod.client.web-7')).toBe(true);
    for (const r of ['farm.prod.client.web-8', 'farm.prod.client.web-77', 'farm.prod.client.web', t.nodeQueue('n1'), t.ingressQueue]) {
      expect(allows(c.read, r)).toBe(false);
      expect(allows(c.configure, r)).toBe(false);
    }
    expect(c.write).toBe('^$');
    expect(() => grant('client')).toThrow('a client broker user needs the client\'s id');
  });

  it('keeps the failover clients to their own queues, publishing nothing', () => {
    const c = grant('clients');
    expect(c.user).toBe('farm.prod.clients');
    expect(allows(c.read, 'farm.prod.client.web-7')).toBe(true);
    expect(allows(c.configure, 'farm.prod.client.web-7')).toBe(true);
    for (const r of [t.nodeQueue('n1'), t.ingressQueue, 'farm.prod.client.', 'farm.prodXclient.a']) expect(allows(c.read, r)).toBe(false);
    expect(c.write).toBe('^$');
  });

  it('keeps an attendant to its own queue and mailbox', () => {
    const a = grant('attendant', 'web-3');
    expect(allows(a.read, t.attendantQueue('web-3'))).toBe(true);
    expect(allows(a.read, `${t.attendantQueue('web-3')}.mailbox`)).toBe(true);
    expect(allows(a.read, t.attendantQueue('web-4'))).toBe(false);
    expect(allows(a.write, t.ingressExchange)).toBe(false);
  });

  it('escapes the namespace: a dot in it matches only a dot', () => {
    expect(exactly('a.b*c')).toBe('a\\.b\\*c');
    expect(allows(grant('node', 'n1').write, 'farmXprod.fanout')).toBe(false);
  });

  it('matches every resource name exactly, for any namespace and id', () => {
    let checked = 0;
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,20}$/), fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/), fc.string({ minLength: 1, maxLength: 3 }), (ns, id, extra) => {
        const tt = topology(ns);
        const g = brokerGrant(ns, 'node', id);
        expect(allows(g.read, tt.nodeQueue(id))).toBe(true);
        // Any longer name (another node whose id starts with this one's, a suffix) is not matched.
        expect(allows(g.read, tt.nodeQueue(id) + extra)).toBe(false);
        expect(allows(g.write, tt.fanoutExchange + extra)).toBe(false);
        checked++;
      }),
    );
    expect(checked).toBeGreaterThan(50);
  });

  it('hashes passwords the way RabbitMQ checks them (salt, then SHA-256 of salt and password)', () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const hash = Buffer.from(rabbitPasswordHash('s3cret', salt), 'base64');
    expect(hash.subarray(0, 4)).toEqual(salt);
    expect(hash.subarray(4)).toEqual(createHash('sha256').update(Buffer.concat([salt, Buffer.from('s3cret')])).digest());
    expect(rabbitPasswordHash('s3cret')).not.toBe(rabbitPasswordHash('s3cret'));
  });

  it('writes definitions with hashes, never the passwords', () => {
    const defs = brokerDefinitions([{ ...grant('monitor'), password: 'pw-never-written' }], '/');
    expect(JSON.stringify(defs)).not.toContain('pw-never-written');
    expect(defs.permissions).toEqual([{ user: 'farm.prod.monitor', vhost: '/', configure: '^$', write: '^(farm\\.prod\\.ingress)$', read: '^$' }]);
  });

  it('puts a user into a broker URL and reads it back', () => {
    const url = brokerUrlFor('amqp://guest:guest@broker:5672/prod', 'farm.node.n1', 'p@ss/word');
    expect(url).toBe('amqp://farm.node.n1:p%40ss%2Fword@broker:5672/prod');
    expect(brokerUrlUser(url)).toBe('farm.node.n1');
    expect(brokerUrlUser('amqp://127.0.0.1')).toBe('guest');
  });
});

describe('the origin of a re-broadcast', () => {
  const perProcess = { ns: NS, mode: 'per-process' as const };

  it('is accepted from the user of the node it names', () => {
    expect(originRefusal('n1', 'farm.prod.node.n1', perProcess)).toBeUndefined();
  });

  it('is refused without an origin, without a user, or from another user', () => {
    expect(originRefusal(undefined, 'farm.prod.node.n1', perProcess)).toBe('a re-broadcast must name its origin node in the x-origin-node header');
    expect(originRefusal('n1', undefined, perProcess)).toBe('a re-broadcast claiming origin n1 carries no user_id (expected farm.prod.node.n1)');
    expect(originRefusal('n1', 'farm.prod.node.n2', perProcess)).toBe('a re-broadcast claiming origin n1 was published by broker user farm.prod.node.n2, not farm.prod.node.n1');
    expect(originRefusal('n1', 'farm.prod.poller', perProcess)).toMatch(/published by broker user farm\.prod\.poller/);
  });

  it('with shared users, needs only the origin', () => {
    expect(originRefusal('n1', 'guest', { ns: NS, mode: 'shared' })).toBeUndefined();
    expect(originRefusal('', 'guest', { ns: NS, mode: 'shared' })).toMatch(/must name its origin/);
  });

  it('is accepted exactly when the user is the named node\'s, for any pair of nodes', () => {
    let same = 0;
    let other = 0;
    const id = fc.constantFrom('n1', 'n2', 'n3', 'node-10');
    // Half the pairs are the same node by construction, half drawn independently (a quarter of those match too).
    const pairs = fc.oneof(id.map((x) => [x, x] as const), fc.tuple(id, id));
    fc.assert(
      fc.property(pairs, ([origin, publisher]) => {
        const refused = originRefusal(origin, brokerUser(NS, 'node', publisher), perProcess);
        if (origin === publisher) {
          same++;
          expect(refused).toBeUndefined();
        } else {
          other++;
          expect(refused).toContain(`claiming origin ${origin}`);
        }
      }),
      { numRuns: 200 },
    );
    expect(same).toBeGreaterThan(200 * 0.2);
    expect(other).toBeGreaterThan(200 * 0.2);
  });
});
