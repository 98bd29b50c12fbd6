import fc from 'fast-check';
import { describeUrl, safe } from './log-text';

describe('safe', () => {
  it('escapes newlines and control characters so a value cannot forge a log line', () => {
    expect(safe('node-1\n2026-11-27T00:00:00.000Z INFO [Sync] forged')).toBe('node-1\\n2026-11-27T00:00:00.000Z INFO [Sync] forged');
    expect(safe('a\r\tb\u0000c\u001bd\u2028e')).toBe('a\\r\\tb\\u0000c\\u001bd\\u2028e');
    expect(safe('say "hi" \\ bye')).toBe('say \\"hi\\" \\\\ bye');
  });

  it('leaves ordinary ids alone and shows non-strings', () => {
    expect(safe('srv-1.example_A')).toBe('srv-1.example_A');
    expect(safe(42)).toBe('42');
    expect(safe(undefined)).toBe('undefined');
    expect(safe(null)).toBe('null');
  });

  it('cuts long values with a marker of their length', () => {
    expect(safe('x'.repeat(500), 10)).toBe('xxxxxxxxxx…(500 chars)');
  });

  it('property: the result never holds a line break or another control character', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
        // eslint-disable-next-line no-control-regex
        expect(safe(s)).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
      }),
    );
  });
});

describe('describeUrl', () => {
  it('hides the password', () => {
    expect(describeUrl('amqp://farm:s3cret@broker:5672/vh')).toBe('amqp://farm:***@broker:5672/vh');
    expect(describeUrl('not a url')).toBe('(unparseable URL)');
  });

  it('hides a password that needed escaping, and leaves a URL without one as it was', () => {
    expect(describeUrl('redis://:p%40ss%2Fw@127.0.0.1:6380/0')).toBe('redis://:***@127.0.0.1:6380/0');
    expect(describeUrl('amqp://farm@broker:5672/')).toBe('amqp://farm@broker:5672/');
  });
});
