/**
 * One node of the two-hop floor (bench/lib/relay-floor.ts), in its own process as a repeater is:
 * raw amqplib, no NestJS, no Redis, no validation. It takes from the shared ingress queue,
 * re-publishes each message to the fanout exchange (confirm channel, persistent) and acks the
 * ingress once that is confirmed; from its own queue it takes the other nodes' re-publishes
 * (its own it acks unread, as a node does). It records when it took each message, by the
 * message's index, and hands the times to its parent over IPC when asked.
 */
import * as amqp from 'amqplib';
import { now } from './util';

const ID = process.env.RELAY_ID as string;
const URL = process.env.RABBITMQ_URL as string;
const INGRESS = process.env.RELAY_INGRESS as string;
const EXCHANGE = process.env.RELAY_EXCHANGE as string;
const QUEUE = process.env.RELAY_QUEUE as string;
const ORIGIN = 'x-relay-origin';

/** Index -> when this node took it (from ingress or from its queue). */
const taken = new Map<number, number>();

async function main(): Promise<void> {
  const conn = await amqp.connect(URL, { noDelay: true });
  const pub = await conn.createConfirmChannel();
  const inCh = await conn.createChannel();
  await inCh.prefetch(200);
  await inCh.consume(INGRESS, (msg) => {
    if (!msg) return;
    const i = Number(msg.properties.messageId);
    taken.set(i, now());
    pub.publish(EXCHANGE, '', msg.content, { persistent: true, messageId: msg.properties.messageId as string, contentType: 'application/json', headers: { [ORIGIN]: ID } }, (err) => {
      if (err) inCh.nack(msg, false, true);
      else inCh.ack(msg);
    });
  });
  const nodeCh = await conn.createChannel();
  await nodeCh.prefetch(200);
  await nodeCh.consume(QUEUE, (msg) => {
    if (!msg) return;
    if (msg.properties.headers?.[ORIGIN] !== ID) {
      const i = Number(msg.properties.messageId);
      if (!taken.has(i)) taken.set(i, now());
    }
    nodeCh.ack(msg);
  });
  process.on('message', (m: { cmd: string }) => {
    if (m.cmd === 'times') {
      process.send?.({ times: [...taken] });
      taken.clear();
    } else if (m.cmd === 'stop') {
      void conn.close().finally(() => process.exit(0));
    }
  });
  process.send?.({ ready: true });
}

main().catch((err: Error) => {
  process.send?.({ error: err.message });
  process.exit(1);
});
