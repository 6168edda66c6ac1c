import type { NameValuePair } from '../../src/protocol/name-value-pairs.js';
import { type FcgiResponse, FcgiTestConnection } from './fcgi-exchange.js';

/**
 * Sends `count` requests over `concurrency` kept-alive FastCGI connections, as a web server
 * would, and returns every outcome in order: a response, or the error that ended it.
 */
export async function fcgiLoad(
  socket: string,
  count: number,
  concurrency: number,
  paramsFor: (i: number) => NameValuePair[],
): Promise<Array<FcgiResponse | Error>> {
  const results: Array<FcgiResponse | Error> = new Array(count);
  let next = 0;
  const worker = async () => {
    let connection: FcgiTestConnection | null = null;
    while (next < count) {
      const i = next++;
      try {
        connection ??= await FcgiTestConnection.open(socket);
        results[i] = await connection.request({ params: paramsFor(i) });
      } catch (error) {
        results[i] = error as Error;
        connection?.close();
        connection = null;
      }
    }
    connection?.close();
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}
