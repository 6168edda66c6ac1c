import { isIPv4, isIPv6 } from 'node:net';
import { isAbsolute, resolve } from 'node:path';

export type ListenAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly host: string; readonly port: number };

const ADDRESS_EXAMPLES = 'use e.g. unix:/run/switchyard/app.sock, 127.0.0.1:9000 or [::1]:9000';
/** sun_path is 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;
const HOSTNAME = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i;

/**
 * Resolves a path written in a config file. Relative paths must say so with `./` or `../`
 * (and need `baseDir`, the config file's directory): a bare `app.sock` is more likely a
 * missing `/` than a wish to depend on the daemon's working directory.
 */
export function resolveConfigPath(text: string, baseDir?: string): string {
  if (text.includes('\0')) throw new Error(`${JSON.stringify(text)} contains a NUL byte`);
  if (isAbsolute(text)) return resolve(text);
  const explicit = text.startsWith('./') || text.startsWith('../');
  if (explicit && baseDir !== undefined) return resolve(baseDir, text);
  throw new Error(
    baseDir === undefined
      ? `${JSON.stringify(text)} is not an absolute path`
      : `${JSON.stringify(text)} must be an absolute path, or start with ./ or ../ to be relative to the config file`,
  );
}

/**
 * `unix:/abs/path`, `host:port` or `[v6]:port`. With `baseDir`, a unix path may also be
 * relative to it (`unix:./app.sock`, see resolveConfigPath).
 */
export function parseAddress(text: string, baseDir?: string): ListenAddress {
  if (text.startsWith('unix:')) {
    return { kind: 'unix', path: parseSocketPath(text.slice('unix:'.length), baseDir) };
  }
  return parseTcpAddress(text);
}

/** A unix socket's path (resolved as resolveConfigPath does) that fits in sun_path. */
export function parseSocketPath(text: string, baseDir?: string): string {
  let path: string;
  try {
    path = resolveConfigPath(text, baseDir);
  } catch (error) {
    throw new Error(`unix socket path ${(error as Error).message}`);
  }
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `unix socket path ${JSON.stringify(path)} is ${bytes} bytes: the limit is ${MAX_SOCKET_PATH_BYTES}`,
    );
  }
  return path;
}

function parseTcpAddress(text: string): ListenAddress {
  const quoted = JSON.stringify(text);
  let host: string;
  let port: string;
  const bracketed = /^\[([^\]]*)\]:([^:]*)$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    port = bracketed[2] ?? '';
    if (!isIPv6(host)) throw new Error(`${quoted}: ${JSON.stringify(host)} is not an IPv6 address`);
  } else {
    const colon = text.lastIndexOf(':');
    if (colon === -1) throw new Error(`${quoted} is not an address: ${ADDRESS_EXAMPLES}`);
    host = text.slice(0, colon);
    port = text.slice(colon + 1);
    if (host.includes(':')) {
      throw new Error(`${quoted}: write an IPv6 address in brackets, e.g. [::1]:9000`);
    }
    if (!isIPv4(host) && !HOSTNAME.test(host)) {
      throw new Error(`${quoted} has no valid host: ${ADDRESS_EXAMPLES}`);
    }
  }
  const number = /^\d{1,5}$/.test(port) ? Number(port) : Number.NaN;
  if (!(number >= 1 && number <= 65535)) {
    throw new Error(`${quoted}: port ${JSON.stringify(port)} is not in 1..65535`);
  }
  return { kind: 'tcp', host, port: number };
}

/** The inverse of parseAddress, for logs and messages. */
export function formatAddress(address: ListenAddress): string {
  if (address.kind === 'unix') return `unix:${address.path}`;
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${host}:${address.port}`;
}
