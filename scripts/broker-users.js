#!/usr/bin/env node
'use strict';
/**
 * Creates the broker users of a farm, one per process with least privilege (README, "Broker
 * users"): writes each user's URL to a file readable by its owner only, and either applies the
 * users with `rabbitmqctl import_definitions` (--apply; FARM_RABBITMQCTL names another command,
 * e.g. "docker compose exec -T rabbitmq rabbitmqctl") or writes the definitions document for you
 * to apply (rabbitmqctl import_definitions, the management API, or load_definitions at boot).
 *
 *   node scripts/broker-users.js --nodes node-1,node-2,node-3 --attendants web-1,web-2 --clients api-1,api-2 --apply
 *
 * Options: --namespace (FARM_NAMESPACE, default farm), --rabbitmq-url (RABBITMQ_URL; host, port
 * and vhost of the URLs written), --nodes, --attendants, --clients (failover clients, one user
 * each, for its own queue only) (comma-separated ids), --apply,
 * --urls FILE (default broker-urls.json), --definitions FILE (default broker-definitions.json,
 * written without --apply). Run `npm run build` first.
 */
const fs = require('node:fs');
const path = require('node:path');

const AUTH = path.join(__dirname, '..', 'dist', 'out', 'libs', 'common', 'src', 'auth');
if (!fs.existsSync(path.join(AUTH, 'broker-provision.js'))) {
  console.error('[broker-users] dist/ is missing: run `npm run build` first');
  process.exit(1);
}
const { brokerAccounts, provisionBrokerUsers } = require(path.join(AUTH, 'broker-provision.js'));
const { brokerDefinitions, brokerUrlFor } = require(path.join(AUTH, 'broker-users.js'));

function parseArgs(argv) {
  const out = { apply: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--apply') out.apply = true;
    else if (a === '--help' || a === '-h') out.help = true;
    else if (a.startsWith('--')) {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith('--')) throw new Error(`${a} needs a value`);
      out[a.slice(2)] = value;
      i++;
    } else throw new Error(`unexpected argument ${a}`);
  }
  return out;
}

function writePrivate(file, text) {
  fs.writeFileSync(file, text, { mode: 0o600 });
  fs.chmodSync(file, 0o600);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(fs.readFileSync(path.join(__dirname, 'broker-users.js'), 'utf8').split('\n').slice(2, 17).map((l) => l.replace(/^ \*\/?\s?/, '')).join('\n'));
    return;
  }
  const ns = args.namespace || process.env.FARM_NAMESPACE || 'farm';
  const url = args['rabbitmq-url'] || process.env.RABBITMQ_URL || 'amqp://guest:guest@127.0.0.1:5672';
  const list = (s) => (s ? s.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const processes = [{ role: 'notifier' }, { role: 'poller' }, { role: 'monitor' }, ...list(args.nodes).map((id) => ({ role: 'node', id })), ...list(args.attendants).map((id) => ({ role: 'attendant', id })), ...list(args.clients).map((id) => ({ role: 'client', id }))];
  const accounts = brokerAccounts(ns, processes);
  const urlsFile = args.urls || 'broker-urls.json';
  let urls;
  if (args.apply) {
    urls = await provisionBrokerUsers(accounts, url);
  } else {
    const vhost = decodeURIComponent(new URL(url).pathname.slice(1)) || '/';
    const defsFile = args.definitions || 'broker-definitions.json';
    writePrivate(defsFile, `${JSON.stringify(brokerDefinitions(accounts, vhost), null, 2)}\n`);
    console.log(`[broker-users] wrote ${defsFile}: apply it with \`rabbitmqctl import_definitions ${defsFile}\``);
    urls = new Map(accounts.map((a) => [a.user, brokerUrlFor(url, a.user, a.password)]));
  }
  writePrivate(urlsFile, `${JSON.stringify(Object.fromEntries(urls), null, 2)}\n`);
  console.log(`[broker-users] ${args.apply ? 'created' : 'defined'} ${accounts.length} users (${accounts.map((a) => a.user).join(', ')}); each process's RABBITMQ_URL is in ${urlsFile}`);
}

main().catch((err) => {
  console.error(`[broker-users] ${err.message}`);
  process.exit(1);
});
