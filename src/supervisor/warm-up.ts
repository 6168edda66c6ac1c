import type { ListenAddress } from '../config/address.js';
import { requestParamsFor } from '../fastcgi-client/get-request-params.js';
import { sendFastCgiRequest } from '../fastcgi-client/one-shot-request.js';

/**
 * Sends each warm-up path to a new replica before it takes traffic (opcache, autoloaders,
 * caches). Returns null when every one answered 2xx, else why not, with the application's
 * own stderr (a PHP fatal error arrives there): a release whose bootstrap dies is caught here
 * before any user sees it.
 */
export async function warmUp(
  address: ListenAddress,
  release: string,
  paths: readonly string[],
  timeoutMs: number,
): Promise<string | null> {
  for (const path of paths) {
    try {
      const response = await sendFastCgiRequest(
        address,
        { params: requestParamsFor(release, path) },
        { timeoutMs },
      );
      if (response.status < 200 || response.status > 299) {
        const stderr = response.stderr.trim();
        return `warm-up GET ${path} answered ${response.status}${stderr === '' ? '' : `: ${stderr}`}`;
      }
    } catch (error) {
      return `warm-up GET ${path} failed: ${(error as Error).message}`;
    }
  }
  return null;
}
