import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeGracefully } from './graceful-close';

interface Served {
  server: Server;
  url: string;
  /** Resolves with how long `server.close()` took, once it was called from inside a request. */
  closed: Promise<number>;
}

/**
 * A server answering after `delayMs`, on a free port, that calls `close()` on itself while it is
 * serving its `closeAt`-th request: the client's keep-alive connection is then surely busy,
 * which is the case Node's own `close()` cannot finish. `/hang` is never answered.
 */
async function serve(delayMs: number, closeAt: number): Promise<Served> {
  let seen = 0;
  let closedResolve!: (ms: number) => void;
  const closed = new Promise<number>((r) => (closedResolve = r));
  const server = createServer((req, res) => {
    seen++;
    if (seen === closeAt) {
      const t0 = Date.now();
      server.close(() => closedResolve(Date.now() - t0));
    }
    if (req.url === '/hang') return;
    setTimeout(() => res.end('ok'), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, closed };
}

/** A client that keeps its keep-alive connection busy: the next request as soon as one is answered. */
function busyClient(url: string): { stop: () => void; answered: () => number; failures: string[] } {
  let stopped = false;
  let answered = 0;
  const failures: string[] = [];
  void (async () => {
    while (!stopped) {
      try {
        const r = await fetch(url);
        await r.text();
        if (r.status === 200) answered++;
      } catch (err) {
        // Once the server has closed it refuses new connections: expected. Anything else is not.
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (code === 'ECONNREFUSED') await new Promise((r) => setTimeout(r, 20));
        else failures.push(String(code ?? err));
      }
    }
  })();
  return { stop: () => (stopped = true), answered: () => answered, failures };
}

/** `p`, or `late` after `ms`. */
async function within<T>(p: Promise<T>, ms: number, late: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((r) => (timer = setTimeout(() => r(late), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

describe('closeGracefully', () => {
  it('closes a server whose keep-alive client never pauses, well before the grace runs out, answering every request it took', async () => {
    const { server, url, closed } = await serve(20, 5);
    closeGracefully(server, 5000);
    const client = busyClient(url);
    try {
      const ms = await within(closed, 3000, Infinity);
      expect(ms).toBeLessThan(1000);
      expect(client.answered()).toBeGreaterThanOrEqual(5);
      expect(client.failures).toEqual([]);
    } finally {
      client.stop();
      server.closeAllConnections();
    }
  });

  it('cuts a request that never ends once the grace is over', async () => {
    const { server, url, closed } = await serve(0, 1);
    closeGracefully(server, 300);
    const hung = fetch(`${url}/hang`).then(
      () => 'answered',
      () => 'cut',
    );
    const ms = await within(closed, 3000, Infinity);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    expect(await hung).toBe('cut');
  });

  it('is what makes the difference: without it the same client holds close() past the grace', async () => {
    const { server, url, closed } = await serve(20, 5);
    const client = busyClient(url);
    try {
      expect(await within(closed.then(() => 'closed'), 1500, 'still open')).toBe('still open');
      expect(client.failures).toEqual([]);
    } finally {
      client.stop();
      server.closeAllConnections();
    }
  });
});
