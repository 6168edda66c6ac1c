import { describe, expect, it } from 'vitest';
import {
  type CgiHttpRequest,
  type CgiSite,
  cgiParamsFor,
  HttpRequestError,
  headerPairs,
} from '../../../src/protocol/cgi-params.js';
import type { NameValuePair } from '../../../src/protocol/name-value-pairs.js';

const connection = {
  remoteAddress: '::ffff:10.0.0.7',
  remotePort: 51234,
  localAddress: '127.0.0.1',
  localPort: 8080,
};
const site: CgiSite = { documentRoot: '/srv/app/current', index: 'index.php' };

function request(url: string, headers: Array<[string, string]> = []): CgiHttpRequest {
  return { method: 'GET', url, httpVersion: '1.1', headers: [['Host', 'example.com'], ...headers] };
}

function paramsOf(
  url: string,
  headers: Array<[string, string]> = [],
  on: CgiSite = site,
): Map<string, string> {
  const pairs = cgiParamsFor(request(url, headers), connection, on);
  return new Map(pairs);
}

function namesOf(pairs: readonly NameValuePair[]): string[] {
  return pairs.map(([name]) => name);
}

describe('cgiParamsFor', () => {
  it('sets the fixed CGI/1.1 params nginx sends', () => {
    const params = paramsOf('/');
    expect(Object.fromEntries(params)).toMatchObject({
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: 'switchyard',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_SCHEME: 'http',
      REQUEST_METHOD: 'GET',
      DOCUMENT_ROOT: '/srv/app/current',
      PATH_INFO: '',
      REMOTE_ADDR: '10.0.0.7',
      REMOTE_PORT: '51234',
      SERVER_ADDR: '127.0.0.1',
      SERVER_PORT: '8080',
      SERVER_NAME: 'example.com',
      REDIRECT_STATUS: '200',
      HTTP_HOST: 'example.com',
    });
  });

  it.each([
    ['/', '/index.php'],
    ['/release.json', '/index.php'],
    ['/users/42', '/index.php'],
    ['/upload.php', '/upload.php'],
    ['/admin/tools.php', '/admin/tools.php'],
    ['/download.php?bytes=10', '/download.php'],
    ['/x.php/extra', '/index.php'],
    ['/INDEX.PHP', '/index.php'],
    ['//a//b.php', '/a/b.php'],
    ['/./a/./b.php', '/a/b.php'],
    ['/%61.php', '/a.php'],
    ['http://example.com/abs.php?q=1', '/abs.php'],
  ])('runs %s as %s', (url, script) => {
    const params = paramsOf(url);
    expect(params.get('SCRIPT_NAME')).toBe(script);
    expect(params.get('DOCUMENT_URI')).toBe(script);
    expect(params.get('SCRIPT_FILENAME')).toBe(`/srv/app/current${script}`);
  });

  it('uses the configured front controller, with or without a leading slash', () => {
    expect(paramsOf('/', [], { ...site, index: 'app.php' }).get('SCRIPT_NAME')).toBe('/app.php');
    expect(paramsOf('/a', [], { ...site, index: '/front.php' }).get('SCRIPT_NAME')).toBe(
      '/front.php',
    );
    expect(
      paramsOf('/', [], { ...site, documentRoot: '/srv/app/current/' }).get('SCRIPT_FILENAME'),
    ).toBe('/srv/app/current/index.php');
  });

  it('runs every path as its own script without a front controller, and omits an absent port', () => {
    const { index: _, ...bare } = site;
    const pairs = cgiParamsFor(
      request('/users/42?x=1'),
      { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 80 },
      bare,
    );
    const params = new Map(pairs);
    expect(params.get('SCRIPT_NAME')).toBe('/users/42');
    expect(params.get('SCRIPT_FILENAME')).toBe('/srv/app/current/users/42');
    expect(namesOf(pairs)).not.toContain('REMOTE_PORT');
  });

  it.each([
    ['/', '/', ''],
    ['/search?q=a%20b&x=1', '/search?q=a%20b&x=1', 'q=a%20b&x=1'],
    ['/a.php?', '/a.php?', ''],
    ['/p?a=1?b=2', '/p?a=1?b=2', 'a=1?b=2'],
    ['http://example.com/abs?q=1', '/abs?q=1', 'q=1'],
    ['http://example.com', '/', ''],
  ])('passes %s as REQUEST_URI %s and QUERY_STRING %s, undecoded', (url, uri, query) => {
    const params = paramsOf(url);
    expect(params.get('REQUEST_URI')).toBe(uri);
    expect(params.get('QUERY_STRING')).toBe(query);
  });

  it('turns every request header into HTTP_*, in order, after the fixed params', () => {
    const pairs = cgiParamsFor(
      request('/', [
        ['User-Agent', 'curl/8.0'],
        ['x-request-id', 'abc'],
        ['Accept', 'text/html'],
        ['accept', 'application/json'],
        ['X-Forwarded-For', '1.1.1.1'],
        ['X-FORWARDED-FOR', '2.2.2.2'],
      ]),
      connection,
      site,
    );
    const names = namesOf(pairs);
    expect(names.filter((n) => n.startsWith('HTTP_'))).toEqual([
      'HTTP_HOST',
      'HTTP_USER_AGENT',
      'HTTP_X_REQUEST_ID',
      'HTTP_ACCEPT',
      'HTTP_X_FORWARDED_FOR',
    ]);
    expect(names.indexOf('HTTP_HOST')).toBeGreaterThan(names.indexOf('REDIRECT_STATUS'));
    const params = new Map(pairs);
    expect(params.get('HTTP_ACCEPT')).toBe('text/html, application/json');
    expect(params.get('HTTP_X_FORWARDED_FOR')).toBe('1.1.1.1, 2.2.2.2');
    expect(params.get('HTTP_X_REQUEST_ID')).toBe('abc');
  });

  it('joins repeated Cookie headers with "; "', () => {
    const params = paramsOf('/', [
      ['Cookie', 'a=1'],
      ['cookie', 'b=2; c=3'],
    ]);
    expect(params.get('HTTP_COOKIE')).toBe('a=1; b=2; c=3');
  });

  it('drops Proxy (httpoxy) and names outside [A-Za-z0-9-]', () => {
    const params = paramsOf('/', [
      ['Proxy', 'http://evil.example:8080'],
      ['PROXY', 'http://evil.example:8080'],
      ['X_Forwarded_For', 'spoofed'],
      ['X.Dot', 'no'],
      ['X-Ok', 'yes'],
    ]);
    expect(params.has('HTTP_PROXY')).toBe(false);
    expect(params.get('HTTP_X_FORWARDED_FOR')).toBeUndefined();
    expect([...params.keys()].some((n) => n.includes('.'))).toBe(false);
    expect(params.get('HTTP_X_OK')).toBe('yes');
  });

  it('sets CONTENT_TYPE and CONTENT_LENGTH only when the headers are present', () => {
    const post = cgiParamsFor(
      {
        method: 'POST',
        url: '/upload.php',
        httpVersion: '1.1',
        headers: [
          ['Host', 'example.com'],
          ['Content-Type', 'application/octet-stream'],
          ['Content-Length', '10485760'],
        ],
      },
      connection,
      site,
    );
    const params = new Map(post);
    expect(params.get('REQUEST_METHOD')).toBe('POST');
    expect(params.get('CONTENT_TYPE')).toBe('application/octet-stream');
    expect(params.get('CONTENT_LENGTH')).toBe('10485760');
    const get = paramsOf('/');
    expect(get.has('CONTENT_TYPE')).toBe(false);
    expect(get.has('CONTENT_LENGTH')).toBe(false);
  });

  it('sends the length of a chunked body read whole as CONTENT_LENGTH', () => {
    const chunked: CgiHttpRequest = {
      method: 'POST',
      url: '/upload.php',
      httpVersion: '1.1',
      headers: [
        ['Host', 'example.com'],
        ['Transfer-Encoding', 'chunked'],
      ],
      bodyLength: 1234,
    };
    expect(new Map(cgiParamsFor(chunked, connection, site)).get('CONTENT_LENGTH')).toBe('1234');
    const sized = { ...chunked, headers: [...chunked.headers, ['Content-Length', '5'] as const] };
    expect(new Map(cgiParamsFor(sized, connection, site)).get('CONTENT_LENGTH')).toBe('5');
  });

  it.each([
    [[['Host', 'Example.com:8080']], {}, 'example.com'],
    [[['Host', '[::1]:8080']], {}, '[::1]'],
    [[], {}, '127.0.0.1'],
    [[['Host', 'example.com']], { serverName: 'www.example.org' }, 'www.example.org'],
  ] as const)('names the server from %j and %j as %s', (headers, extra, name) => {
    const pairs = cgiParamsFor(
      { method: 'GET', url: '/', httpVersion: '1.0', headers },
      connection,
      { ...site, ...extra },
    );
    expect(new Map(pairs).get('SERVER_NAME')).toBe(name);
    expect(new Map(pairs).get('SERVER_PROTOCOL')).toBe('HTTP/1.0');
  });

  it.each([
    ['/../etc/passwd', 'ERR_HTTP_BAD_PATH'],
    ['/a/../../b.php', 'ERR_HTTP_BAD_PATH'],
    ['/a/..', 'ERR_HTTP_BAD_PATH'],
    ['/%2e%2e/secret.php', 'ERR_HTTP_BAD_PATH'],
    ['/a/%2E%2e/b', 'ERR_HTTP_BAD_PATH'],
    ['/a%2f..%2fb.php', 'ERR_HTTP_BAD_PATH'],
    ['/a%00.php', 'ERR_HTTP_BAD_PATH'],
    ['/a\u0000.php', 'ERR_HTTP_BAD_PATH'],
    ['/bad%zz', 'ERR_HTTP_BAD_PATH'],
    ['/bad%', 'ERR_HTTP_BAD_PATH'],
    ['*', 'ERR_HTTP_BAD_TARGET'],
    ['example.com:443', 'ERR_HTTP_BAD_TARGET'],
  ])('refuses %j with %s', (url, code) => {
    let caught: unknown;
    try {
      cgiParamsFor(request(url), connection, site);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(HttpRequestError);
    expect((caught as HttpRequestError).code).toBe(code);
  });

  it('accepts names that merely contain dots', () => {
    expect(paramsOf('/a..b/c...txt').get('SCRIPT_NAME')).toBe('/index.php');
    expect(paramsOf('/a..b/c...php').get('SCRIPT_NAME')).toBe('/a..b/c...php');
    expect(paramsOf('/..a.php').get('SCRIPT_NAME')).toBe('/..a.php');
  });

  it('keeps UTF-8 paths byte-exact, escaped or raw, and the document root as its UTF-8 bytes', () => {
    const utf8Root = '/srv/café/current';
    const on = { ...site, documentRoot: utf8Root };
    // Node hands a raw UTF-8 request-target over as latin1: one char per byte.
    const raw = Buffer.from('/naïve/日本.php?q=é', 'utf8').toString('latin1');
    for (const url of ['/na%C3%AFve/%E6%97%A5%E6%9C%AC.php?q=%C3%A9', raw]) {
      const params = paramsOf(url, [], on);
      const bytes = (name: string) => Buffer.from(params.get(name) as string, 'latin1');
      expect(bytes('SCRIPT_NAME').toString('utf8')).toBe('/naïve/日本.php');
      expect(bytes('SCRIPT_FILENAME').toString('utf8')).toBe('/srv/café/current/naïve/日本.php');
      expect(bytes('DOCUMENT_ROOT').toString('utf8')).toBe(utf8Root);
      expect(params.get('REQUEST_URI')).toBe(url);
    }
  });

  it('passes latin1 header values through unchanged', () => {
    const value = Buffer.from('naïve ✓', 'utf8').toString('latin1');
    expect(paramsOf('/', [['X-Name', value]]).get('HTTP_X_NAME')).toBe(value);
  });
});

describe('headerPairs', () => {
  it("pairs node's flat rawHeaders, repeats kept", () => {
    expect(headerPairs(['Host', 'a', 'Cookie', 'x=1', 'Cookie', 'y=2'])).toEqual([
      ['Host', 'a'],
      ['Cookie', 'x=1'],
      ['Cookie', 'y=2'],
    ]);
  });
});
