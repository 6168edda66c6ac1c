import { randomBytes } from 'node:crypto';
import { RecordType } from '../src/protocol/constants.js';
import type { NameValuePair } from '../src/protocol/name-value-pairs.js';
import { encodeNameValuePairs } from '../src/protocol/name-value-pairs.js';
import { encodeStream } from '../src/protocol/record-encoder.js';
import {
  beginRequest,
  finishRequest,
  unfinishedRequest,
} from '../test/support/raw-fcgi-records.js';
import type { ProbeScript } from './fcgi-probe.js';

export const MALFORMED_KINDS = [
  'garbage bytes',
  'truncated record',
  'params never end',
  'over-long params',
] as const;
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** The daemon's default `[limits] max_params`; the over-long stream goes past it. */
const MAX_PARAMS_BYTES = 1024 * 1024;
/** Above the daemon's default `params_timeout` (10 s): it, not we, must end that connection. */
const PARAMS_NEVER_END_LIFETIME_MS = 30_000;
const LIFETIME_MS = 15_000;

const SOME_PARAMS: NameValuePair[] = [
  ['REQUEST_METHOD', 'GET'],
  ['SCRIPT_NAME', '/index.php'],
  ['REQUEST_URI', '/index.php'],
];

/**
 * One of the client connections a web server never makes, sent straight to the FastCGI socket
 * (`n` varies the sizes): garbage, a record cut off in its header before the client hangs up,
 * a request whose params never end, and a params stream longer than the daemon takes.
 */
export function malformedScript(kind: MalformedKind, n: number): ProbeScript {
  switch (kind) {
    case 'garbage bytes':
      return hold([randomBytes(64 + ((n * 397) % 4000))], LIFETIME_MS, 0);
    case 'truncated record': {
      const params = encodeStream(RecordType.Params, 1, encodeNameValuePairs(SOME_PARAMS));
      // Cut inside the record: after the header's first bytes, or inside the content.
      const cut = 1 + (n % (params.length - 1));
      return {
        chunks: [beginRequest(1), params.subarray(0, cut)],
        finish: 'half-close',
        lifetimeMs: LIFETIME_MS,
        answers: 0,
        deaf: false,
      };
    }
    case 'params never end':
      return hold([unfinishedRequest(1, SOME_PARAMS)], PARAMS_NEVER_END_LIFETIME_MS, 0);
    case 'over-long params':
      return hold([overLongRequest(1, 60_000 * (1 + (n % 4)))], LIFETIME_MS, 1);
  }
}

function hold(chunks: Buffer[], lifetimeMs: number, answers: number): ProbeScript {
  return { chunks, finish: 'hold', lifetimeMs, answers, deaf: false };
}

/**
 * A whole request (id `id`) whose params come to `extraBytes` more than the daemon's default
 * max_params, in pairs of 60 KB values: each pair fits a record, the stream does not fit the limit.
 */
export function overLongRequest(id: number, extraBytes: number): Buffer {
  const pairs: NameValuePair[] = [...SOME_PARAMS];
  const value = 'v'.repeat(60_000);
  for (let size = 0; size < MAX_PARAMS_BYTES + extraBytes; size += value.length) {
    pairs.push([`HTTP_X_FILLER_${size}`, value]);
  }
  return Buffer.concat([
    beginRequest(id),
    encodeStream(RecordType.Params, id, encodeNameValuePairs(pairs)),
    finishRequest(id),
  ]);
}
