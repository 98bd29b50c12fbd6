import { describeConflict, parseDeclarationConflict } from './declaration-conflict';

const BROKER_SAYS = 'Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'x-max-priority\' for queue \'farm.node.n1\' in vhost \'/\': received the value \'9\' of type \'signedint\' but current is none"';

describe('declaration conflicts', () => {
  it('reads the queue, the argument and both values from the broker\'s 406', () => {
    expect(parseDeclarationConflict(BROKER_SAYS)).toEqual({ kind: 'queue', name: 'farm.node.n1', vhost: '/', argument: 'x-max-priority', ours: "'9' of type 'signedint'", theirs: 'none' });
  });

  it('reads an exchange declared as another type', () => {
    const m = 'Channel closed by server: 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg \'type\' for exchange \'farm.fanout\' in vhost \'prod\': received \'fanout\' but current is \'direct\'"';
    expect(parseDeclarationConflict(m)).toMatchObject({ kind: 'exchange', name: 'farm.fanout', vhost: 'prod', argument: 'type', ours: "'fanout'", theirs: "'direct'" });
  });

  it('is nothing for other errors (the broker away, access refused)', () => {
    for (const m of ['connect ECONNREFUSED 127.0.0.1:5672', 'Channel closed by server: 403 (ACCESS-REFUSED) with message "ACCESS_REFUSED - access to queue \'q\' refused"', '']) expect(parseDeclarationConflict(m)).toBeUndefined();
  });

  it('says what clashes, that it is not an outage, and what to do', () => {
    const line = describeConflict(parseDeclarationConflict(BROKER_SAYS)!, 5000);
    expect(line).toContain("queue 'farm.node.n1'");
    expect(line).toContain("x-max-priority is none there, this version declares '9' of type 'signedint'");
    expect(line).toContain('not an outage');
    expect(line).toContain('tries again every 5 s');
  });
});
