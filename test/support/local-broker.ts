import { execFile } from 'node:child_process';
import * as amqp from 'amqplib';
import { promisify } from 'node:util';
import { DEFAULT_RABBITMQ_URL } from '../../libs/common/src/testing/brokers';
import { describeUrl } from '../../libs/common/src/logging';

const run = promisify(execFile);
/** The control command of the local broker (`RABBITMQCTL` names another one). */
const RABBITMQCTL = process.env.RABBITMQCTL ?? 'rabbitmqctl';
const CTL_TIMEOUT_MS = 60_000;
const LOCAL_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Why the broker at `url` is not the documented local one (`RABBITMQ_URL` unset, or pointing at
 * 127.0.0.1:5672), or undefined when it is. A test never restarts a broker it does not own.
 */
export function notLocalBroker(url: string | undefined = process.env.RABBITMQ_URL): string | undefined {
  let u: URL;
  try {
    u = new URL(url || DEFAULT_RABBITMQ_URL);
  } catch {
    return 'refusing to restart the broker: RABBITMQ_URL is not a URL this test can recognise as the documented local broker (127.0.0.1:5672)';
  }
  const port = u.port || '5672';
  if (u.protocol === 'amqp:' && LOCAL_HOSTS.has(u.hostname) && port === '5672') return undefined;
  return `refusing to restart the broker at ${describeUrl(url ?? '')}: this test stops and starts RabbitMQ with rabbitmqctl, which it does only for the documented local broker (RABBITMQ_URL unset or amqp://…@127.0.0.1:5672)`;
}

/** Throws (so the test fails, never skips) unless the broker is the documented local one. */
export function assertLocalBroker(): void {
  const why = notLocalBroker();
  if (why) throw new Error(why);
}

async function ctl(...args: string[]): Promise<void> {
  await run(RABBITMQCTL, args, { timeout: CTL_TIMEOUT_MS });
}

/** Stops the local broker's application (`rabbitmqctl stop_app`); refuses for any other broker. */
export async function stopLocalBroker(): Promise<void> {
  assertLocalBroker();
  await ctl('stop_app');
}

/** Starts the local broker's application again and waits until it has fully started. */
export async function startLocalBroker(): Promise<void> {
  assertLocalBroker();
  await ctl('start_app');
  await ctl('await_startup');
}

/**
 * Restarts the local broker: `stop_app`, then `whileDown` (what the test does while the broker
 * is away), then always `start_app` and `await_startup`, even when `whileDown` fails.
 * Resolves with how long the broker was away, in ms.
 */
export async function restartLocalBroker(whileDown: () => Promise<void> = async () => undefined): Promise<number> {
  await stopLocalBroker();
  const stoppedAt = Date.now();
  try {
    await whileDown();
  } finally {
    await startLocalBroker();
  }
  return Date.now() - stoppedAt;
}

/** Runs `rabbitmqctl` with the given arguments against the local broker (users, policies); refuses for any other broker. */
export async function localBrokerCtl(...args: string[]): Promise<string> {
  assertLocalBroker();
  const { stdout } = await run(RABBITMQCTL, args, { timeout: CTL_TIMEOUT_MS });
  return stdout;
}

/**
 * Deletes everything of namespace `ns` on the local broker: every queue and exchange named
 * `<ns>.…` (listed with rabbitmqctl, so whatever the processes of a farm declared, not a list the
 * test must keep in step with them). Returns what went.
 */
export async function deleteLocalNamespace(ns: string, url: string): Promise<{ queues: string[]; exchanges: string[] }> {
  const named = async (what: 'list_queues' | 'list_exchanges'): Promise<string[]> =>
    (await localBrokerCtl(what, '-q', '--no-table-headers', 'name'))
      .split('\n')
      .map((l) => l.trim())
      .filter((n) => n.startsWith(`${ns}.`));
  const queues = await named('list_queues');
  const exchanges = await named('list_exchanges');
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    for (const q of queues) await ch.deleteQueue(q);
    for (const x of exchanges) await ch.deleteExchange(x);
  } finally {
    await conn.close().catch(() => undefined);
  }
  return { queues, exchanges };
}
