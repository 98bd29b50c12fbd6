/**
 * The monitored services of `bench:polling`'s simulated servers: one TCP listener per service
 * (ten ports), in a process of their own, as the services a real attendant checks are other
 * processes than the attendant. Accepts and lets the checker close (it destroys its socket at
 * connect). Sends its ports to the parent once listening; exits when the parent goes.
 *
 * Why not in the hosts' own processes: a listener in the same event loop as thousands of tcp
 * checks falls behind in accepting (measured: its accept queue fills to the backlog while the
 * checkers' connects keep completing in the kernel), the kernel then drops SYNs and those checks
 * wait for the 1 s SYN retransmission. Why ten ports: the checker's closed sockets stay in
 * TIME_WAIT for 60 s, and the ephemeral ports towards one destination (28,000 here) would not
 * last a run if every check of every simulated server went to the same port.
 */
import { createServer, Server, Socket } from 'node:net';
import { SERVICES_PER_SERVER } from './polling-protocol';

const BACKLOG = 4096;
const sockets = new Set<Socket>();
const listeners: Server[] = [];
let accepted = 0;

async function main(): Promise<void> {
  for (let i = 0; i < SERVICES_PER_SERVER; i++) {
    const l = createServer((s) => {
      accepted++;
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
      s.resume();
    });
    await new Promise<void>((resolve, reject) => {
      l.once('error', reject);
      l.listen(0, '127.0.0.1', BACKLOG, () => resolve());
    });
    listeners.push(l);
  }
  process.send?.({ ports: listeners.map((l) => (l.address() as { port: number }).port) });
}

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'accepted') process.send?.({ accepted });
});
process.on('disconnect', () => {
  sockets.forEach((s) => s.destroy());
  listeners.forEach((l) => l.close());
  process.exit(0);
});

main().catch((err: Error) => {
  console.error(`polling-services: ${err.message}`);
  process.exit(1);
});
