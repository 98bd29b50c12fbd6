import fc from 'fast-check';
import type { NextFunction, Request, Response } from 'express';
import { FarmLogger, FarmLoggerOptions, prettyLine } from './farm-logger';
import { redactSecrets } from './log-text';
import { currentLogContext, requestIds, withLogContext } from './log-context';

/** A logger writing into an array, one parsed object per line (a line that is not JSON fails the test). */
function capture(opts: Partial<FarmLoggerOptions> = {}): { logger: FarmLogger; lines: Record<string, unknown>[]; raw: string[] } {
  const raw: string[] = [];
  const logger = new FarmLogger({ app: 'repeater', ids: { node: 'n1' }, destination: { write: (s: string) => void raw.push(s) }, ...opts });
  return {
    logger,
    raw,
    get lines() {
      return raw.map((l) => JSON.parse(l) as Record<string, unknown>);
    },
  };
}

describe('FarmLogger', () => {
  it('writes one JSON object per line with level, time, app, the process id, the context and the message', () => {
    const c = capture();
    c.logger.log('node n1 ready', 'Node');
    c.logger.warn('lost the connection', 'AMQP');
    expect(c.raw.every((l) => l.endsWith('\n') && l.trimEnd().split('\n').length === 1)).toBe(true);
    expect(c.lines).toEqual([
      expect.objectContaining({ level: 'info', app: 'repeater', node: 'n1', context: 'Node', msg: 'node n1 ready' }),
      expect.objectContaining({ level: 'warn', app: 'repeater', node: 'n1', context: 'AMQP', msg: 'lost the connection' }),
    ]);
    expect(Date.parse(c.lines[0].time as string)).not.toBeNaN();
  });

  it("takes Nest's error(message, stack, context) and error(Error) shapes", () => {
    const c = capture();
    c.logger.error('handler failed', 'Error: boom\n    at x', 'Consumer');
    c.logger.error(new Error('kaput'));
    c.logger.error('no stack, no context');
    expect(c.lines[0]).toEqual(expect.objectContaining({ level: 'error', msg: 'handler failed', stack: 'Error: boom\n    at x', context: 'Consumer' }));
    expect(c.lines[1]).toEqual(expect.objectContaining({ level: 'error', msg: 'kaput' }));
    expect(String(c.lines[1].stack)).toContain('kaput');
    expect(c.lines[2]).toEqual(expect.not.objectContaining({ stack: expect.anything(), extra: expect.anything() }));
  });

  it('adds the request or message id of the context the line was logged in, across awaits', async () => {
    const c = capture();
    await withLogContext({ reqId: 'r-1' }, async () => {
      await new Promise((r) => setTimeout(r, 1));
      c.logger.log('serving');
      await withLogContext({ msgId: 'm-9' }, async () => {
        await Promise.resolve();
        c.logger.log('publishing');
      });
    });
    c.logger.log('outside');
    expect(c.lines.map((l) => [l.msg, l.reqId, l.msgId])).toEqual([
      ['serving', 'r-1', undefined],
      ['publishing', 'r-1', 'm-9'],
      ['outside', undefined, undefined],
    ]);
  });

  it('writes nothing below its level, and follows Nest setLogLevels', () => {
    const c = capture({ level: 'info' });
    c.logger.debug('hidden');
    c.logger.verbose('hidden too');
    c.logger.log('shown');
    c.logger.setLogLevels(['error', 'warn', 'log', 'debug']);
    c.logger.debug('now shown');
    expect(c.lines.map((l) => l.msg)).toEqual(['shown', 'now shown']);
  });

  it('never writes a URL password or a bearer token, in the message, the stack or extra parameters', () => {
    // A URL password may use any userinfo character (RFC 3986); a bearer token those of RFC 6750.
    const password = fc.stringMatching(/^[A-Za-z0-9!$%&'()*+,;=._~-]{6,24}$/);
    const token = fc.stringMatching(/^[A-Za-z0-9._~+/-]{8,40}=*$/);
    let checked = 0;
    fc.assert(
      fc.property(password, token, fc.constantFrom('amqp', 'amqps', 'redis', 'rediss', 'https'), (pw, tok, scheme) => {
        const c = capture();
        const url = `${scheme}://farm:${pw}@broker.example:5672/vh`;
        c.logger.error(`cannot reach ${url} (refused)`, `Error: at ${url}`, 'AMQP');
        c.logger.warn(`token Bearer ${tok} was refused`, { url }, 'Auth');
        const text = c.raw.join('');
        expect(text).not.toContain(pw);
        expect(text).not.toContain(tok);
        expect(c.lines[0].msg).toBe(`cannot reach ${scheme}://farm:***@broker.example:5672/vh (refused)`);
        checked++;
      }),
      { numRuns: 300 },
    );
    expect(checked).toBe(300);
  });

  it('prints the same fields as a short line for people in pretty format', () => {
    const raw: string[] = [];
    const logger = new FarmLogger({ app: 'poller', ids: { poller: 'p1' }, format: 'pretty', destination: { write: (s: string) => void raw.push(s) } });
    withLogContext({ reqId: 'abc' }, () => logger.warn('server web-1 is critical', 'Poller'));
    expect(raw).toHaveLength(1);
    expect(raw[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} WARN {2}poller poller=p1 reqId=abc \[Poller\] server web-1 is critical\n$/);
  });
});

describe('redactSecrets', () => {
  it('leaves text without secrets alone', () => {
    expect(redactSecrets('amqp://127.0.0.1:5672 and redis://cache:6379/0, user@example.com')).toBe('amqp://127.0.0.1:5672 and redis://cache:6379/0, user@example.com');
  });
});

describe('prettyLine', () => {
  it('passes a line that is not JSON through', () => {
    expect(prettyLine('plain text')).toBe('plain text');
  });
});

describe('requestIds', () => {
  function run(header: string | undefined): { id: string; inside: string | undefined } {
    const headers: Record<string, string> = {};
    const req = { headers: header === undefined ? {} : { 'x-request-id': header } } as unknown as Request;
    const res = { setHeader: (k: string, v: string) => void (headers[k] = v) } as unknown as Response;
    let inside: string | undefined;
    const next: NextFunction = () => void (inside = currentLogContext()?.reqId);
    requestIds(req, res, next);
    return { id: headers['x-request-id'], inside };
  }

  it("keeps a caller's plain request id and answers it", () => {
    expect(run('req-42.a:b')).toEqual({ id: 'req-42.a:b', inside: 'req-42.a:b' });
  });

  it('makes up an id when there is none, or when the given one could forge or flood a line', () => {
    for (const bad of [undefined, '', 'a\nb', 'x'.repeat(65), '"quoted"']) {
      const r = run(bad);
      expect(r.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.inside).toBe(r.id);
    }
  });
});
