import { describe, expect, it } from 'vitest';
import {
  formatAddress,
  type ListenAddress,
  parseAddress,
  resolveConfigPath,
} from '../../../src/config/address.js';

describe('parseAddress', () => {
  it.each<[string, ListenAddress]>([
    ['unix:/run/switchyard/app.sock', { kind: 'unix', path: '/run/switchyard/app.sock' }],
    ['127.0.0.1:9000', { kind: 'tcp', host: '127.0.0.1', port: 9000 }],
    ['localhost:1', { kind: 'tcp', host: 'localhost', port: 1 }],
    ['[::1]:65535', { kind: 'tcp', host: '::1', port: 65535 }],
  ])('parses %s and formats it back', (text, address) => {
    expect(parseAddress(text)).toEqual(address);
    expect(formatAddress(address)).toBe(text);
  });

  it('resolves ./ and ../ socket paths against baseDir only', () => {
    expect(parseAddress('unix:./run/app.sock', '/etc/sy')).toEqual({
      kind: 'unix',
      path: '/etc/sy/run/app.sock',
    });
    expect(parseAddress('unix:../php/a.sock', '/etc/sy')).toEqual({
      kind: 'unix',
      path: '/etc/php/a.sock',
    });
    expect(() => parseAddress('unix:./run/app.sock')).toThrow('is not an absolute path');
  });

  it('refuses a bare relative socket path even with a baseDir', () => {
    expect(() => parseAddress('unix:relative', '/etc/sy')).toThrow(
      'unix socket path "relative" must be an absolute path, or start with ./ or ../',
    );
  });

  it('refuses a socket path longer than sun_path holds', () => {
    expect(() => parseAddress(`unix:/${'a'.repeat(107)}`)).toThrow(
      'is 108 bytes: the limit is 107',
    );
    expect(parseAddress(`unix:/${'a'.repeat(106)}`).kind).toBe('unix');
  });

  it.each([
    ['127.0.0.1:70000', 'port "70000" is not in 1..65535'],
    ['127.0.0.1:0', 'port "0" is not in 1..65535'],
    ['127.0.0.1:http', 'port "http" is not in 1..65535'],
    ['localhost', 'is not an address'],
    ['::1:9000', 'write an IPv6 address in brackets'],
    ['[127.0.0.1]:80', 'is not an IPv6 address'],
    [':9000', 'has no valid host'],
    ['bad host:9000', 'has no valid host'],
  ])('refuses %s', (text, reason) => {
    expect(() => parseAddress(text)).toThrow(reason);
  });
});

describe('resolveConfigPath', () => {
  it('normalises absolute paths, trailing slash included', () => {
    expect(resolveConfigPath('/srv/app//current/', '/etc/sy')).toBe('/srv/app/current');
  });

  it('refuses a bare relative path', () => {
    expect(() => resolveConfigPath('current', '/etc/sy')).toThrow(
      '"current" must be an absolute path, or start with ./ or ../ to be relative to the config file',
    );
  });
});
