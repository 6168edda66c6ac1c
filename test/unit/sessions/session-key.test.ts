import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type SessionKeySources, sessionKeyOf } from '../../../src/sessions/session-key.js';

const PHP: SessionKeySources = { cookies: ['PHPSESSID'], params: [] };

describe('sessionKeyOf', () => {
  it.each([
    { cookie: 'PHPSESSID=abc123', key: 'abc123' },
    { cookie: 'theme=dark; PHPSESSID=abc123; lang=en', key: 'abc123' },
    // PHP skips white space before a name and trims nothing else: `PHPSESSID ` is another name.
    { cookie: ' \t PHPSESSID=abc123;x=1', key: 'abc123' },
    { cookie: 'PHPSESSID =abc123', key: null },
    { cookie: 'PHPSESSID= abc123 ', key: ' abc123 ' },
    { cookie: 'PHPSESSID=abc123;PHPSESSID=other', key: 'abc123' },
    // The first cookie of the name decides, an empty one too (PHP starts a new session).
    { cookie: 'PHPSESSID=; PHPSESSID=second', key: null },
    { cookie: 'phpsessid=abc123', key: null },
    { cookie: 'XPHPSESSID=abc123; PHPSESSIDX=def', key: null },
    // Cookies are rawurldecoded: `+` stays `+` (query strings make it a space).
    { cookie: 'PHPSESSID=a%2Cb+c', key: 'a,b+c' },
    { cookie: 'PHPSESSID=a%zz%4', key: 'a%zz%4' },
    { cookie: 'PHPSESSID', key: null },
    { cookie: ';;;=;PHPSESSID;=abc', key: null },
    { cookie: '', key: null },
    { cookie: 'PHPSESSID="quoted"', key: '"quoted"' },
  ])('finds $key in the cookie header $cookie', ({ cookie, key }) => {
    expect(sessionKeyOf(cookie, undefined, PHP)).toBe(key);
  });

  it('prefers an earlier configured cookie name over a later one, wherever each appears', () => {
    const sources = { cookies: ['laravel_session', 'PHPSESSID'], params: [] };
    expect(sessionKeyOf('PHPSESSID=php; laravel_session=lar', undefined, sources)).toBe('lar');
    expect(sessionKeyOf('PHPSESSID=php; other=1', undefined, sources)).toBe('php');
  });

  it('reads query parameters only when no cookie carries a session, the last of a repeat', () => {
    const sources = { cookies: ['PHPSESSID'], params: ['_s', 'PHPSESSID'] };
    expect(sessionKeyOf(undefined, 'a=1&_s=q1', sources)).toBe('q1');
    expect(sessionKeyOf('PHPSESSID=c1', '_s=q1', sources)).toBe('c1');
    expect(sessionKeyOf('other=1', 'PHPSESSID=q2&_s=q1', sources)).toBe('q1');
    expect(sessionKeyOf(undefined, '_s=one&_s=two', sources)).toBe('two');
    expect(sessionKeyOf(undefined, '%5Fs=enc%20oded', sources)).toBe('enc oded');
    expect(sessionKeyOf(undefined, '_s=&x', sources)).toBeNull();
    expect(sessionKeyOf(undefined, '_s', sources)).toBeNull();
    expect(sessionKeyOf(undefined, 'x=1', { cookies: ['PHPSESSID'], params: [] })).toBeNull();
  });

  it('finds the session cookie behind 200 others and in an 8 KiB value', () => {
    const others = Array.from({ length: 200 }, (_, i) => `c${i}=${'v'.repeat(20)}`).join('; ');
    expect(sessionKeyOf(`${others}; PHPSESSID=last`, undefined, PHP)).toBe('last');
    const big = 'x'.repeat(8192);
    expect(sessionKeyOf(`PHPSESSID=${big}`, undefined, PHP)).toBe(big);
  });

  it('reads a header of a million separators in linear time', () => {
    const started = performance.now();
    for (const filler of [';', '&', ';=', 'a;']) {
      const big = filler.repeat(1_000_000 / filler.length);
      sessionKeyOf(big, big.replaceAll(';', '&'), { cookies: ['PHPSESSID'], params: ['_s'] });
    }
    // Quadratic scanning took seconds for one such header; linear takes milliseconds.
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('never throws, whatever bytes a client sends, and any key it returns is non-empty', () => {
    const latin1 = fc
      .uint8Array({ maxLength: 300 })
      .map((bytes) => Buffer.from(bytes).toString('latin1'));
    const tricky = fc
      .array(fc.constantFrom('PHPSESSID', '_s', '=', ';', '&', '%', '%2', '%41', '+', ' ', 'x'), {
        maxLength: 40,
      })
      .map((parts) => parts.join(''));
    const header = fc.option(fc.oneof(latin1, tricky), { nil: undefined });
    fc.assert(
      fc.property(header, header, (cookie, query) => {
        const key = sessionKeyOf(cookie, query, { cookies: ['PHPSESSID'], params: ['_s'] });
        expect(key === null || key.length > 0).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
