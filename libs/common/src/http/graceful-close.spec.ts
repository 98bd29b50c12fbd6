import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeGracefully } from './graceful-close';

/** A server answering after `delayMs`, on a free port; `hang` paths never answer. */
async function serve(delayMs: number): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.url === '/hang') return;
    setTimeout(() => res.end('ok'), delayMs);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A client that keeps one keep-alive connection busy: a request every few ms until stopped. */
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
        // After close the server refuses new connections: that is expected; anything else is not.
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (code !== 'ECONNREFUSED') failures.push(String(code ?? err));
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  return { stop: () => (stopped = true), answered: () => answered, failures };
}

function closeTime(server: Server): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => server.close((err) => (err ? reject(err) : resolve(Date.now() - t0))));
}

describe('closeGracefully', () => {
  it('closes a server whose keep-alive client never pauses, well before the grace runs out, without failing a request', async () => {
    const { server, url } = await serve(20);
    closeGracefully(server, 5000);
    const client = busyClient(url);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const before = client.answered();
      expect(before).toBeGreaterThan(3);
      const ms = await closeTime(server);
      expect(ms).toBeLessThan(1000);
      expect(client.failures).toEqual([]);
    } finally {
      client.stop();
    }
  });

  it('cuts a request that never ends once the grace is over', async () => {
    const { server, url } = await serve(0);
    closeGracefully(server, 300);
    const hung = fetch(`${url}/hang`).then(
      () => 'answered',
      () => 'cut',
    );
    await new Promise((r) => setTimeout(r, 50));
    const ms = await closeTime(server);
    expect(ms).toBeGreaterThanOrEqual(250);
    expect(ms).toBeLessThan(2000);
    expect(await hung).toBe('cut');
  });

  it('is what makes the difference: without it the busy client holds close() past the grace', async () => {
    const { server, url } = await serve(20);
    const client = busyClient(url);
    try {
      await new Promise((r) => setTimeout(r, 300));
      const closed = closeTime(server).then(() => true);
      const held = await Promise.race([closed, new Promise<boolean>((r) => setTimeout(() => r(false), 1500))]);
      expect(held).toBe(false);
    } finally {
      client.stop();
      server.closeAllConnections();
    }
  });
});
