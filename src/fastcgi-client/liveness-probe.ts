import type { ListenAddress } from '../config/address.js';
import { FCGI_NULL_REQUEST_ID, ManagementVariable, RecordType } from '../protocol/constants.js';
import { encodeNameValuePairs } from '../protocol/name-value-pairs.js';
import { encodeRecord } from '../protocol/record-encoder.js';
import { exchangeRecords } from './record-exchange.js';

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
  return exchangeRecords<boolean>({
    address,
    bytes: GET_VALUES,
    timeoutMs,
    onRecord: (type) => (type === RecordType.GetValuesResult ? true : undefined),
    onFailure: () => false,
  });
}
