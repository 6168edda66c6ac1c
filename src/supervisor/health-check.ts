import { performance } from 'node:perf_hooks';
import type { ListenAddress } from '../config/address.js';
import { requestParamsFor } from '../fastcgi-client/get-request-params.js';
import { sendFastCgiRequest } from '../fastcgi-client/one-shot-request.js';
import { isDescriptorExhaustion } from '../net/descriptor-exhaustion.js';

export interface HealthCheckOptions {
  /** Request path, query allowed: php-fpm's ping.path, or any page of the application. */
  readonly path: string;
  /** The body must contain this; empty: any 2xx answer passes. */
  readonly expect: string;
  /** Bound on the whole check, connect included. */
  readonly timeoutMs: number;
  /** The replica's release directory: the document root of the request. */
  readonly release: string;
}

/**
 * `ms` is how long the check took, failed or not. `inconclusive`: the check could not be
 * made because this process is out of file descriptors, which says nothing of the replica.
 */
export type HealthResult =
  | { readonly ok: true; readonly ms: number }
  | {
      readonly ok: false;
      readonly reason: string;
      readonly ms: number;
      readonly inconclusive?: boolean;
    };

/** Characters of the body (or stderr) quoted in a failure reason. */
const SNIPPET_CHARS = 120;

/**
 * One real FastCGI request, GET `path`, as a web server would send it: healthy when the
 * answer is 2xx and its body (the first 64 KiB of it) contains `expect`. Never throws: every
 * failure, the request's own errors included, comes back as `{ ok: false, reason }`.
 */
export async function checkHealth(
  address: ListenAddress,
  options: HealthCheckOptions,
): Promise<HealthResult> {
  const started = performance.now();
  const elapsed = () => Math.round((performance.now() - started) * 10) / 10;
  try {
    const response = await sendFastCgiRequest(
      address,
      { params: requestParamsFor(options.release, options.path) },
      { timeoutMs: options.timeoutMs },
    );
    if (response.status < 200 || response.status > 299) {
      const stderr = response.stderr.trim();
      const details = [
        response.body.length === 0 ? 'empty body' : `body starts: ${snippet(response.body)}`,
        ...(stderr === '' ? [] : [`stderr: ${snippet(Buffer.from(stderr))}`]),
      ];
      return {
        ok: false,
        reason: `status ${response.status} (${details.join('; ')})`,
        ms: elapsed(),
      };
    }
    if (options.expect !== '' && !response.body.includes(options.expect)) {
      return {
        ok: false,
        reason: `body does not contain ${JSON.stringify(options.expect)} (got: ${response.body.length === 0 ? 'an empty body' : snippet(response.body)})`,
        ms: elapsed(),
      };
    }
    return { ok: true, ms: elapsed() };
  } catch (error) {
    const failed = { ok: false, reason: messageOf(error), ms: elapsed() } as const;
    return isDescriptorExhaustion(error) ? { ...failed, inconclusive: true } : failed;
  }
}

/** The start of `bytes` as one quoted line: whitespace runs collapsed, cut with an ellipsis. */
function snippet(bytes: Buffer): string {
  const text = bytes
    .toString('utf8', 0, Math.min(bytes.length, SNIPPET_CHARS * 4))
    .replace(/\s+/g, ' ')
    .trim();
  const cut = text.length > SNIPPET_CHARS || bytes.length > SNIPPET_CHARS * 4;
  return JSON.stringify(cut ? `${text.slice(0, SNIPPET_CHARS)}…` : text);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
