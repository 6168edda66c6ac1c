import { describe, expect, it } from 'vitest';
import { CodedError } from '../../../src/coded-error.js';
import { parseCgiResponseHead } from '../../../src/protocol/cgi-response.js';
import {
  releaseHeaderBytes,
  releaseHeaderNameProblem,
  releaseHeaderValue,
} from '../../../src/request/release-header.js';

describe('releaseHeaderBytes', () => {
  it('is null without a configured header', () => {
    expect(releaseHeaderBytes(null, '/srv/app/releases/42')).toBeNull();
  });

  it("is one CRLF-ended header line with the release directory's basename", () => {
    expect(releaseHeaderBytes('X-Release', '/srv/app/releases/42')?.toString('latin1')).toBe(
      'X-Release: 42\r\n',
    );
    expect(releaseHeaderBytes('x-served-by', '/srv/app/releases/2026-01-02_v3.1/')).toEqual(
      Buffer.from('x-served-by: 2026-01-02_v3.1\r\n'),
    );
  });

  it("makes a valid CGI head in front of any application's head", () => {
    const line = releaseHeaderBytes('X-Release', '/srv/app/releases/42') as Buffer;
    for (const [app, headers, body] of [
      ['Content-Type: text/html\r\n\r\nhi', [['Content-Type', 'text/html']], 'hi'],
      ['Status: 404 Not Found\nX-A: 1\n\nno', [['X-A', '1']], 'no'],
      ['\r\nbare', [], 'bare'],
      ['\nbare', [], 'bare'],
    ] as const) {
      const bytes = Buffer.concat([line, Buffer.from(app)]);
      const head = parseCgiResponseHead(bytes);
      expect(head?.headers, app).toEqual([['X-Release', '42'], ...headers]);
      expect(bytes.subarray(head?.bodyOffset).toString(), app).toBe(body);
    }
  });

  it('refuses a name that is not a token or that would change the response', () => {
    for (const name of ['', 'X Release', 'X-Release:', 'X-Réléase', 'Status', 'content-length']) {
      expect(releaseHeaderNameProblem(name), name).not.toBeNull();
      let thrown: unknown;
      try {
        releaseHeaderBytes(name, '/srv/app/releases/42');
      } catch (error) {
        thrown = error;
      }
      expect(thrown, name).toBeInstanceOf(CodedError);
      expect((thrown as CodedError<string>).code, name).toBe('ERR_RELEASE_HEADER_NAME');
    }
    expect(releaseHeaderNameProblem('X-Release')).toBeNull();
    expect(releaseHeaderNameProblem("x.release_2~!#$%&'*+^`|")).toBeNull();
  });
});

describe('releaseHeaderValue', () => {
  it.each([
    ['/srv/app/releases/42', '42'],
    ['/srv/app/releases/42/', '42'],
    ['releases/v1.2.3-rc+build_7', 'v1.2.3-rc+build_7'],
    ['/r/a!#$&\'()*,;=?@[]^`{|}~"<>\\', 'a!#$&\'()*,;=?@[]^`{|}~"<>\\'],
    // Not visible ASCII, and % itself: %XX of each UTF-8 byte.
    ['/r/release 1', 'release%201'],
    ['/r/100%', '100%25'],
    ['/r/tab\there', 'tab%09here'],
    ['/r/line\r\nbreak', 'line%0D%0Abreak'],
    ['/r/déploiement', 'd%C3%A9ploiement'],
    ['/r/\x7f\x00', '%7F%00'],
  ])('%j gives %j', (dir, value) => {
    expect(releaseHeaderValue(dir)).toBe(value);
    expect(decodeURIComponent(value)).toBe(dir.replace(/\/$/, '').split('/').pop());
  });
});
