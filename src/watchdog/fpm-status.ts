import { CodedError } from '../coded-error.js';
import type { ListenAddress } from '../config/address.js';
import { requestParamsFor } from '../fastcgi-client/get-request-params.js';
import { sendFastCgiRequest } from '../fastcgi-client/one-shot-request.js';

/** Stable codes for a status page that could not be had. */
export type FpmStatusErrorCode =
  /** No answer within the timeout, no connection, or the connection broke. */
  | 'ERR_FPM_STATUS_UNREACHABLE'
  /** An answer that is not php-fpm's JSON status page (wrong status, too large, bad shape). */
  | 'ERR_FPM_STATUS_ANSWER';

export class FpmStatusError extends CodedError<FpmStatusErrorCode> {
  override readonly name = 'FpmStatusError';
}

/** One php-fpm child as `pm.status_path?json&full` describes it. */
export interface FpmProcess {
  readonly pid: number;
  /** `Idle`, `Running`, `Reading headers`, `Finishing`, … (php-fpm's words). */
  readonly state: string;
  /** REQUEST_URI of the request it runs (of its last one when idle), query included. */
  readonly requestUri: string;
  readonly requestMethod: string;
  /** SCRIPT_FILENAME, or null where php-fpm shows `-` (its own status and ping pages). */
  readonly script: string | null;
  /** How long the current (or last) request has run, in ms (php-fpm counts µs). */
  readonly requestDurationMs: number;
  /** When the child started, ms since the epoch (php-fpm gives whole seconds). */
  readonly startedAt: number;
}

export interface FpmStatus {
  readonly pool: string;
  /** Connections waiting in the pool's listen backlog for a free child. */
  readonly listenQueue: number;
  readonly activeProcesses: number;
  readonly idleProcesses: number;
  readonly processes: readonly FpmProcess[];
}

export interface ReadFpmStatusOptions {
  /**
   * Bound on the whole request. php-fpm answers its status page from a child: with every child
   * busy the request waits in the listen backlog until one frees up, so this bound is what
   * keeps a stuck replica's diagnosis from getting stuck too.
   */
  readonly timeoutMs: number;
  /** A larger page is refused; 1 MiB unless told (about 3000 children's entries). */
  readonly maxBytes?: number;
  /** SCRIPT_FILENAME's directory for the request; php-fpm only needs one to be there. */
  readonly documentRoot?: string;
}

export const DEFAULT_MAX_STATUS_BYTES = 1024 * 1024;

/** Asks a php-fpm pool for `statusPath?json&full` and parses the answer. */
export async function readFpmStatus(
  address: ListenAddress,
  statusPath: string,
  options: ReadFpmStatusOptions,
): Promise<FpmStatus> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_STATUS_BYTES;
  let response: Awaited<ReturnType<typeof sendFastCgiRequest>>;
  try {
    response = await sendFastCgiRequest(
      address,
      { params: requestParamsFor(options.documentRoot ?? '/', `${statusPath}?json&full`) },
      { timeoutMs: options.timeoutMs, maxBodyBytes: maxBytes },
    );
  } catch (error) {
    throw new FpmStatusError(
      'ERR_FPM_STATUS_UNREACHABLE',
      `status page unavailable: ${(error as Error).message}`,
      { cause: error },
    );
  }
  if (response.status !== 200) {
    throw new FpmStatusError(
      'ERR_FPM_STATUS_ANSWER',
      // The path is a secret (see unguessableStatusPath): not in a message that reaches logs.
      `status page answered ${response.status}: not php-fpm's pm.status_path?`,
    );
  }
  if (response.bodyTruncated) {
    throw new FpmStatusError('ERR_FPM_STATUS_ANSWER', `status page larger than ${maxBytes} bytes`);
  }
  return parseFpmStatus(response.body.toString('utf8'));
}

/** php-fpm's JSON status page (`?json&full`) as an FpmStatus; throws FpmStatusError. */
export function parseFpmStatus(text: string): FpmStatus {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // Not the parser's message: it quotes the page, which may hold other users' URIs.
    throw new FpmStatusError('ERR_FPM_STATUS_ANSWER', 'status page is not JSON');
  }
  const page = record(data, 'the status page');
  const processes = page.processes;
  if (!Array.isArray(processes)) {
    throw new FpmStatusError(
      'ERR_FPM_STATUS_ANSWER',
      'status page has no "processes" list: was it asked with ?json&full?',
    );
  }
  return {
    pool: stringAt(page, 'pool'),
    listenQueue: countAt(page, 'listen queue'),
    activeProcesses: countAt(page, 'active processes'),
    idleProcesses: countAt(page, 'idle processes'),
    processes: processes.map((entry, index) => fpmProcess(record(entry, `process ${index}`))),
  };
}

function fpmProcess(entry: Record<string, unknown>): FpmProcess {
  const pid = countAt(entry, 'pid');
  const script = stringAt(entry, 'script');
  return {
    pid,
    state: stringAt(entry, 'state'),
    requestUri: stringAt(entry, 'request uri'),
    requestMethod: stringAt(entry, 'request method'),
    script: script === '-' ? null : script,
    requestDurationMs: Math.round(countAt(entry, 'request duration') / 1000),
    startedAt: countAt(entry, 'start time') * 1000,
  };
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FpmStatusError('ERR_FPM_STATUS_ANSWER', `${what} is not a JSON object`);
  }
  return value as Record<string, unknown>;
}

function countAt(entry: Record<string, unknown>, key: string): number {
  const value = entry[key];
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new FpmStatusError(
      'ERR_FPM_STATUS_ANSWER',
      `status page: "${key}" is not a count (${typeof value})`,
    );
  }
  return value;
}

function stringAt(entry: Record<string, unknown>, key: string): string {
  const value = entry[key];
  if (typeof value !== 'string') {
    throw new FpmStatusError(
      'ERR_FPM_STATUS_ANSWER',
      `status page: "${key}" is not a string (${typeof value})`,
    );
  }
  return value;
}
