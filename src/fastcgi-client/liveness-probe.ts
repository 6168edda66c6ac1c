import type { ListenAddress } from '../config/address.js';
import { connectTo } from '../net/connect-to.js';
import { FCGI_NULL_REQUEST_ID, ManagementVariable, RecordType } from '../protocol/constants.js';
import { encodeNameValuePairs } from '../protocol/name-value-pairs.js';
import { RecordDecoder } from '../protocol/record-decoder.js';
import { encodeRecord } from '../protocol/record-encoder.js';

const GET_VALUES = encodeRecord(
  RecordType.GetValues,
  FCGI_NULL_REQUEST_ID,
  encodeNameValuePairs([[ManagementVariable.MpxsConns, '']]),
);

/**
 * True when the replica accepts a connection and answers FCGI_GET_VALUES within the timeout.
 * php-fpm answers it from a worker, so an answer means a worker took the connection, not
 * just that the master's socket exists.
 */
export function probeReplica(address: ListenAddress, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connectTo(address);
    let settled = false;
    const settle = (alive: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(alive);
    };
    const timer = setTimeout(() => settle(false), timeoutMs);
    const decoder = new RecordDecoder((type) => {
      if (type === RecordType.GetValuesResult) settle(true);
    });
    socket.on('connect', () => socket.write(GET_VALUES));
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.write(chunk);
      } catch {
        settle(false);
      }
    });
    socket.on('error', () => settle(false));
    socket.on('close', () => settle(false));
  });
}
