import fc from 'fast-check';
import { MAX_PRIORITY, URGENT_PRIORITY, laneOf, topology } from '../contracts/topology';
import { isLegacyPriorityConflict } from './farm-topology';

const broker = (arg: string, queue: string, received: string, current: string) =>
  `Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg '${arg}' for queue '${queue}' in vhost '/': received ${received} but current is ${current}"`;

describe('lanes', () => {
  it('maps the contract\'s priorities 0-4 to the ordinary lane and 5-9 to the urgent one', () => {
    const lanes = Array.from({ length: MAX_PRIORITY + 1 }, (_, p) => laneOf(p));
    expect(lanes).toEqual(['ordinary', 'ordinary', 'ordinary', 'ordinary', 'ordinary', 'urgent', 'urgent', 'urgent', 'urgent', 'urgent']);
    expect(URGENT_PRIORITY).toBe(5);
  });

  it('gives every node queues of its own: no name of one node is another node\'s or a shared one', () => {
    const id = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
    fc.assert(
      fc.property(id, id, (a, b) => {
        fc.pre(a !== b);
        const t = topology('farm');
        const own = (n: string) => [t.nodeQueue(n), t.nodeUrgentQueue(n), t.rpcQueue(n)];
        const shared = [t.ingressQueue, t.ingressUrgentQueue, t.fanoutExchange, t.fanoutUrgentExchange, t.deadQueue];
        const names = [...own(a), ...own(b), ...shared];
        expect(new Set(names).size).toBe(names.length);
      }),
      { numRuns: 300 },
    );
  });
});

describe('a legacy queue', () => {
  it('is recognised by the one argument an earlier version declared and this one does not', () => {
    expect(isLegacyPriorityConflict(broker('x-max-priority', 'farm.node.n1', 'none', "the value '9' of type 'signedint'"))).toBe(true);
    expect(isLegacyPriorityConflict(broker('x-max-priority', 'farm.ingress', 'none', "the value '2' of type 'byte'"))).toBe(true);
  });

  it('is not any other conflict: those stay errors that name the queue and the argument', () => {
    expect(isLegacyPriorityConflict(broker('x-expires', 'farm.node.n1', "the value '604800000' of type 'signedint'", 'none'))).toBe(false);
    // A queue that has no priorities where this version would declare some is not ours to replace.
    expect(isLegacyPriorityConflict(broker('x-max-priority', 'farm.node.n1', "the value '9' of type 'signedint'", 'none'))).toBe(false);
    expect(isLegacyPriorityConflict('Operation failed: QueueDeclare; 404 (NOT-FOUND)')).toBe(false);
  });
});
