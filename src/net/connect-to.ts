import { connect, type Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';

/** Opens a connection to a replica's address; TCP without Nagle (records are small). */
export function connectTo(address: ListenAddress): Socket {
  return address.kind === 'unix'
    ? connect(address.path)
    : connect({ host: address.host, port: address.port, noDelay: true });
}
