// The bodies of the control requests: read with a bound, then validated into the typed
// requests of messages.ts. A body that is not one answers 400 (413 when too large).
import type { IncomingMessage } from 'node:http';
import { isAbsolute } from 'node:path';
import { ControlError } from './control-error.js';
import {
  type AwaitRequest,
  type DeployRequest,
  MAX_AWAIT_TIMEOUT_MS,
  type RestartRequest,
  type RollbackRequest,
} from './messages.js';

/** A request is `{}`, `{"replica": 2}` or `{"target": "/srv/…"}`: anything near this size is not one. */
const MAX_BODY_BYTES = 64 * 1024;

/** The body of a control request as text, refused with 413 past MAX_BODY_BYTES. */
export async function readBody(request: IncomingMessage): Promise<string> {
  const declared = Number(request.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw bodyTooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw bodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function bodyTooLarge(): ControlError {
  return new ControlError(
    'ERR_CONTROL_BODY_TOO_LARGE',
    `the request body is over ${MAX_BODY_BYTES / 1024} KiB`,
    { status: 413 },
  );
}

/**
 * Validates a restart request body: empty or `{}` restarts every replica, `{"replica": N}`
 * one of them. Unknown fields are refused, so a newer CLI's option is not silently ignored.
 */
export function parseRestartRequest(text: string): RestartRequest {
  if (text.trim() === '') return {};
  const { replica } = parseObject(text, ['replica'], '{"replica": 2}');
  if (replica === undefined) return {};
  if (typeof replica !== 'number' || !Number.isSafeInteger(replica) || replica < 1) {
    throw badRequest(
      `replica must be a positive integer (1 for replica-1), got ${JSON.stringify(replica)}`,
    );
  }
  return { replica };
}

/**
 * Validates a deploy request body: `{"target": "/srv/app/releases/43"}`, optionally with
 * `"force": true`. The target must be an absolute path; whether it exists, is a directory
 * and lies under release.root is the handler's to say (ERR_DEPLOY_TARGET).
 */
export function parseDeployRequest(text: string): DeployRequest {
  const example = '{"target": "/srv/app/releases/43"}';
  if (text.trim() === '') throw badRequest(`a deploy needs a body such as ${example}`);
  const { target, force } = parseObject(text, ['target', 'force'], example);
  if (target === undefined) throw badRequest(`target is missing; send ${example}`);
  if (typeof target !== 'string' || target === '') {
    throw badRequest(
      `target must be a non-empty string (the release directory), got ${JSON.stringify(target)}`,
    );
  }
  if (!isAbsolute(target)) {
    throw badRequest(`target must be an absolute path, got ${JSON.stringify(target)}`);
  }
  if (target.includes('\0')) throw badRequest('target must not contain a NUL byte');
  if (force !== undefined && typeof force !== 'boolean') {
    throw badRequest(`force must be true or false, got ${JSON.stringify(force)}`);
  }
  return force === undefined ? { target } : { target, force };
}

/**
 * Validates an await request body: `{"timeoutMs": 120000}`, optionally with
 * `"release": "/srv/app/releases/43"` (absolute). The timeout is bounded: a waiting client
 * holds a control connection.
 */
export function parseAwaitRequest(text: string): AwaitRequest {
  const example = '{"timeoutMs": 120000, "release": "/srv/app/releases/43"}';
  if (text.trim() === '') throw badRequest(`an await needs a body such as ${example}`);
  const { release, timeoutMs } = parseObject(text, ['release', 'timeoutMs'], example);
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isSafeInteger(timeoutMs) ||
    timeoutMs < 1 ||
    timeoutMs > MAX_AWAIT_TIMEOUT_MS
  ) {
    throw badRequest(
      `timeoutMs must be a whole number of milliseconds from 1 to ${MAX_AWAIT_TIMEOUT_MS}, got ${JSON.stringify(timeoutMs)}`,
    );
  }
  if (release === undefined) return { timeoutMs };
  if (typeof release !== 'string' || !isAbsolute(release)) {
    throw badRequest(`release must be an absolute path, got ${JSON.stringify(release)}`);
  }
  if (release.includes('\0')) throw badRequest('release must not contain a NUL byte');
  return { release, timeoutMs };
}

/** Validates a rollback request body: empty or `{}` (it has no options yet). */
export function parseRollbackRequest(text: string): RollbackRequest {
  if (text.trim() !== '') parseObject(text, [], '{}');
  return {};
}

/**
 * The request body as a JSON object with only `known` fields. Unknown fields are refused,
 * so a newer CLI's option is not silently ignored.
 */
function parseObject(
  text: string,
  known: readonly string[],
  example: string,
): Record<string, unknown> {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw badRequest(`the request body is not JSON: ${(error as Error).message}`);
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw badRequest(`the request body must be a JSON object such as ${example}`);
  }
  const unknown = Object.keys(data).filter((key) => !known.includes(key));
  if (unknown.length > 0) {
    const knownText = known.length === 0 ? 'none' : known.join(', ');
    throw badRequest(`unknown field ${JSON.stringify(unknown[0])}; known fields: ${knownText}`);
  }
  return data as Record<string, unknown>;
}

function badRequest(message: string): ControlError {
  return new ControlError('ERR_CONTROL_BAD_REQUEST', message, { status: 400 });
}
