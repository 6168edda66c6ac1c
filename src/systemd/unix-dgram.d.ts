// The part of unix-dgram (no published types) the notifier uses.
declare module 'unix-dgram' {
  import type { EventEmitter } from 'node:events';

  export interface UnixDgramSocket extends EventEmitter {
    send(
      buffer: Buffer,
      offset: number,
      length: number,
      path: string,
      callback?: (error?: Error) => void,
    ): void;
    close(): void;
  }

  export function createSocket(type: 'unix_dgram'): UnixDgramSocket;
}
