import { describe, expect, it } from 'vitest';
import { requestParamsFor } from '../../../src/fastcgi-client/get-request-params.js';

describe('requestParamsFor', () => {
  it('builds what a web server sends for GET path against the release', () => {
    expect(Object.fromEntries(requestParamsFor('/srv/releases/r1', '/hello.php?a=1&b=2'))).toEqual({
      GATEWAY_INTERFACE: 'CGI/1.1',
      SERVER_SOFTWARE: 'switchyard',
      SERVER_PROTOCOL: 'HTTP/1.1',
      REQUEST_SCHEME: 'http',
      REQUEST_METHOD: 'GET',
      REQUEST_URI: '/hello.php?a=1&b=2',
      DOCUMENT_URI: '/hello.php',
      SCRIPT_NAME: '/hello.php',
      SCRIPT_FILENAME: '/srv/releases/r1/hello.php',
      DOCUMENT_ROOT: '/srv/releases/r1',
      PATH_INFO: '',
      QUERY_STRING: 'a=1&b=2',
      REMOTE_ADDR: '127.0.0.1',
      SERVER_ADDR: '127.0.0.1',
      SERVER_PORT: '80',
      SERVER_NAME: 'localhost',
      REDIRECT_STATUS: '200',
      HTTP_HOST: 'localhost',
      HTTP_USER_AGENT: 'switchyard-health',
    });
  });

  it('drops a trailing slash of the release, decodes the script path, and takes extras last', () => {
    const params = new Map(
      requestParamsFor('/srv/café/', '/a%20b.php', [
        ['HTTP_HOST', 'example.test'],
        ['HTTP_X_EXTRA', '1'],
      ]),
    );
    const latin1 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    expect(params.get('SCRIPT_FILENAME')).toBe(latin1('/srv/café/a b.php'));
    expect(params.get('DOCUMENT_ROOT')).toBe(latin1('/srv/café'));
    expect(params.get('SCRIPT_NAME')).toBe('/a b.php');
    expect(params.get('REQUEST_URI')).toBe('/a%20b.php');
    expect(params.get('QUERY_STRING')).toBe('');
    expect(params.get('HTTP_HOST')).toBe('example.test');
    expect(params.get('HTTP_X_EXTRA')).toBe('1');
  });

  it('runs every path as its own script: php-fpm matches ping.path against SCRIPT_NAME', () => {
    const params = new Map(requestParamsFor('/srv/app', '/fpm-ping?full'));
    expect(params.get('SCRIPT_NAME')).toBe('/fpm-ping');
    expect(params.get('SCRIPT_FILENAME')).toBe('/srv/app/fpm-ping');
    expect(params.get('QUERY_STRING')).toBe('full');
    expect(params.has('REMOTE_PORT')).toBe(false);
  });

  it('refuses a path no web server passes on, as the HTTP front does', () => {
    expect(() => requestParamsFor('/srv/app', '/a/../b.php')).toThrow(/has a \.\. segment/);
  });

  it('refuses a path without a leading slash', () => {
    expect(() => requestParamsFor('/srv/app', 'ping')).toThrow(/must start with \//);
  });
});
