import { fstatSync, readFileSync } from 'node:fs';

/** Where a listening socket is bound, as the kernel reports it. */
export type BoundAddress =
  | { readonly kind: 'unix'; readonly path: string }
  | { readonly kind: 'tcp'; readonly port: number }
  | { readonly kind: 'unknown' };

/**
 * The address the listening socket `fd` is bound to, found by its inode in /proc/net: Node
 * has no getsockname for a descriptor it did not open. Linux only, as switchyard is.
 */
export function boundAddress(fd: number): BoundAddress {
  let inode: number;
  try {
    const stats = fstatSync(fd);
    if (!stats.isSocket()) return { kind: 'unknown' };
    inode = stats.ino;
  } catch {
    return { kind: 'unknown' };
  }
  const path = unixPathOf(inode);
  if (path !== null) return { kind: 'unix', path };
  const port = tcpPortOf(inode);
  return port === null ? { kind: 'unknown' } : { kind: 'tcp', port };
}

/** /proc/net/unix: `Num RefCount Protocol Flags Type St Inode Path`. */
function unixPathOf(inode: number): string | null {
  for (const line of readLines('/proc/net/unix')) {
    const fields = line.trim().split(/\s+/);
    if (Number(fields[6]) === inode && fields[7] !== undefined) return fields[7];
  }
  return null;
}

/** /proc/net/tcp{,6}: `sl local_address rem_address st … inode` (local as HEX:PORT). */
function tcpPortOf(inode: number): number | null {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readLines(file)) {
      const fields = line.trim().split(/\s+/);
      if (Number(fields[9]) !== inode) continue;
      const port = fields[1]?.split(':')[1];
      return port === undefined ? null : Number.parseInt(port, 16);
    }
  }
  return null;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(1);
  } catch {
    return [];
  }
}
