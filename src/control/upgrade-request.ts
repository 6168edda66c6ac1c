import { isAbsolute } from 'node:path';
import { ControlError } from './control-error.js';
import type { UpgradeRequest } from './messages.js';

/**
 * Validates an upgrade request body: empty or `{}` restarts the daemon's own command line,
 * `{"binary": "/abs/path"}` starts that switchyard instead. Unknown fields are refused, so a
 * newer CLI's option is not silently ignored. A body that is not one answers 400.
 */
export function parseUpgradeRequest(text: string): UpgradeRequest {
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw badRequest('the body is not JSON: send {} or {"binary": "/usr/local/bin/switchyard"}');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw badRequest(
      'the body must be a JSON object such as {"binary": "/usr/local/bin/switchyard"}',
    );
  }
  const { binary, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) throw badRequest(`unknown field ${JSON.stringify(unknown[0])}`);
  if (binary === undefined) return {};
  if (typeof binary !== 'string' || !isAbsolute(binary) || binary.includes('\0')) {
    throw badRequest(`binary must be an absolute path, got ${JSON.stringify(binary)}`);
  }
  return { binary };
}

function badRequest(message: string): ControlError {
  return new ControlError('ERR_CONTROL_BAD_REQUEST', message, { status: 400 });
}
