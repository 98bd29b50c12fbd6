import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';
import { httpOk, pingNode } from './http-ring-ports';

/** A local HTTP server (real sockets, no mocks) that counts the connections it accepts. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

describe('the ring peers’ HTTP client', () => {
  it('pings a buddy over one kept-alive connection, round after round', async () => {
    const s = await serve((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'));
    try {
      for (let i = 0; i < 5; i++) expect(await pingNode(s.url, 1000)).toBe(true);
      expect(s.connections()).toBe(1);
    } finally {
      await close(s.server);
    }
  });

  it('answers the body of a 2xx reply, and undefined for any other status, a refused connection or a bad address', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/fail') return void res.writeHead(503).end('{"alive":true}');
      res.writeHead(200).end(`{"method":"${req.method}","sig":"${req.headers['farm-signature'] ?? ''}"}`);
    });
    const port = (s.server.address() as AddressInfo).port;
    try {
      expect(await httpOk(`${s.url}/x`, { method: 'POST', headers: { 'farm-signature': 'v1 abc' } }, 1000)).toEqual({ status: 200, body: '{"method":"POST","sig":"v1 abc"}' });
      expect(await httpOk(`${s.url}/fail`, {}, 1000)).toBeUndefined();
      // The failed reply's body was read too: the connection is still the first one.
      expect(await pingNode(s.url, 1000)).toBe(true);
      expect(s.connections()).toBe(1);
    } finally {
      await close(s.server);
    }
    expect(await pingNode(`http://127.0.0.1:${port}`, 1000)).toBe(false);
    expect(await pingNode('not a url', 1000)).toBe(false);
  });

  it('gives up on a peer that does not answer within the timeout', async () => {
    const held: ServerResponse[] = [];
    const s = await serve((_req, res) => void held.push(res));
    try {
      const t0 = Date.now();
      expect(await pingNode(s.url, 200)).toBe(false);
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(190);
      expect(took).toBeLessThan(2000);
      expect(held).toHaveLength(1);
    } finally {
      await close(s.server);
    }
  });
});
