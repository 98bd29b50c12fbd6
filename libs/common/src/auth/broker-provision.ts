import { spawn } from 'node:child_process';
import * as amqp from 'amqplib';
import { BrokerAccount, BrokerRole, brokerDefinitions, brokerGrant, brokerUrlFor, newBrokerPassword } from './broker-users';

/**
 * Creating the farm's broker users on a RabbitMQ the caller administers: one
 * `rabbitmqctl import_definitions` (users and permissions, merged into what the broker has), then
 * a wait until the last user can log in (the import finishes asynchronously). `FARM_RABBITMQCTL`
 * names the command when it is not `rabbitmqctl` on the PATH (e.g. `docker compose exec -T
 * rabbitmq rabbitmqctl`). Used by the local farm, the tests and scripts/broker-users.js.
 */

/** One process of the farm that needs a broker user. */
export interface BrokerProcess {
  role: BrokerRole;
  id?: string;
}

function rabbitmqctl(args: string[], input?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const [cmd, ...pre] = (env.FARM_RABBITMQCTL || env.RABBITMQCTL || 'rabbitmqctl').split(/\s+/).filter(Boolean);
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, [...pre, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('error', (e) => reject(new Error(`cannot run ${cmd} (${e.message}): creating broker users needs rabbitmqctl for the broker (set FARM_RABBITMQCTL to the command that runs it)`)));
    p.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args[0]} failed (exit ${code}): ${(err || out).trim().split('\n').slice(-2).join(' ')}`))));
    p.stdin.end(input ?? '');
  });
}

/** Fresh accounts (new random passwords) for the processes of namespace `ns`. */
export function brokerAccounts(ns: string, processes: BrokerProcess[]): BrokerAccount[] {
  return processes.map((p) => ({ ...brokerGrant(ns, p.role, p.id), password: newBrokerPassword() }));
}

/**
 * Creates (or updates) the users and their permissions, and waits until they can log in at
 * `rabbitmqUrl` (whose host, port and vhost the accounts' URLs keep). Returns each user's URL.
 */
export async function provisionBrokerUsers(accounts: BrokerAccount[], rabbitmqUrl: string, env: NodeJS.ProcessEnv = process.env, waitMs = 15_000): Promise<Map<string, string>> {
  const vhost = decodeURIComponent(new URL(rabbitmqUrl).pathname.slice(1)) || '/';
  await rabbitmqctl(['import_definitions'], JSON.stringify(brokerDefinitions(accounts, vhost)), env);
  const urls = new Map(accounts.map((a) => [a.user, brokerUrlFor(rabbitmqUrl, a.user, a.password)]));
  const last = accounts[accounts.length - 1];
  if (!last) return urls;
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const conn = await amqp.connect(urls.get(last.user) as string);
      await conn.close();
      return urls;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`broker user ${last.user} cannot log in ${waitMs / 1000} s after the import: ${(err as Error).message}`, { cause: err });
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** Deletes users (those already gone are fine). */
export async function deleteBrokerUsers(users: string[], env: NodeJS.ProcessEnv = process.env): Promise<void> {
  await Promise.all(users.map((u) => rabbitmqctl(['delete_user', u], undefined, env).catch((err: Error) => {
    if (!/no_such_user|does not exist/i.test(err.message)) throw err;
  })));
}
