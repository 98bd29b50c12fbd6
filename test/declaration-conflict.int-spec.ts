import { waitFor } from '../libs/common/src/testing/wait-for';
import { CONFLICT_RETRY_MS } from '../libs/common/src/messaging/amqp-client';
import { TestFarm } from './support/test-farm';

jest.setTimeout(60_000);

/**
 * A queue the broker already has with other arguments (an older topology, another program):
 * RabbitMQ refuses the declaration. The node says so, naming the queue and the argument, stays
 * up and not ready without a reconnect storm, and comes up once the queue is gone.
 */
describe('a declaration the broker refuses', () => {
  const farm = new TestFarm('decl-conflict');
  afterAll(() => farm.cleanup());

  it('is named in the log and in readiness, retried slowly without exiting, and the node comes up once the queue is deleted', async () => {
    const queue = farm.t.nodeQueue('n1');
    const ch = await farm.channel();
    await ch.assertQueue(queue, { durable: true }); // none of the arguments the node declares
    const node = await farm.startNode('n1', {}, false);
    const clear = new RegExp(`the broker already has queue '${queue.replace(/\./g, '\\.')}' \\(vhost '/'\\) declared with other arguments: (x-[a-z-]+) is none there, this version declares '\\d+' of type`);
    await waitFor('the node names the queue and the argument', () => farm.logLines(clear).length > 0, 15_000, 100);
    type Ready = { details?: { broker?: { connection: string; conflict?: string } } };
    const ready = await waitFor('readiness says why the broker is down', async () => {
      const r = await fetch(`${node.url}/v1/health/ready`);
      const body = (await r.json()) as Ready;
      return r.status === 503 && body.details?.broker?.conflict ? body : undefined;
    }, 10_000, 100);
    expect(ready.details?.broker?.conflict).toMatch(new RegExp(`^queue '${queue.replace(/\./g, '\\.')}': x-[a-z-]+ is none on the broker, '\\d+' of type 'signedint' here$`));
    // Over two retry periods: still running, one clear line (the log says it once per 30 s), no
    // "not reachable", and the channel's own complaint folded too.
    await new Promise((r) => setTimeout(r, 2 * CONFLICT_RETRY_MS));
    expect(node.exits).toEqual([]);
    expect((await fetch(`${node.url}/v1/health/live`)).status).toBe(200);
    expect(farm.logLines(clear)).toHaveLength(1);
    expect(farm.logLines(/RabbitMQ is not reachable/)).toEqual([]);
    expect(farm.logLines(/channel of .*PRECONDITION/).length).toBeLessThanOrEqual(1);
    await ch.deleteQueue(queue);
    await node.ready(3 * CONFLICT_RETRY_MS);
    const after = (await (await fetch(`${node.url}/v1/health/ready`)).json()) as Ready;
    expect(after.details?.broker).toEqual({ status: 'up', connection: 'connected' });
  });
});
