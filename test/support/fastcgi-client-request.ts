// Promise wrapper around the independent `fastcgi-client` package, so that FastCGI peers are
// tested against a second implementation rather than switchyard's own codec.
//
// fastcgi-client's types declare an ES default export, but the package is CommonJS
// (`module.exports = fn`): under NodeNext TypeScript types the default import as the whole
// declaration module, while at run time it is the function itself.
import fastcgiClientModule from 'fastcgi-client';

const createClient = fastcgiClientModule as unknown as typeof fastcgiClientModule.default;

export interface FastcgiRequestOptions {
  /** FastCGI params; REQUEST_METHOD, REQUEST_URI and the like. */
  params: Record<string, string>;
  /** Request body, sent as FCGI_STDIN records; an empty stdin when absent. */
  body?: Buffer;
  /** Bound on the whole exchange; 30 s unless told. */
  timeoutMs?: number;
}

export interface FastcgiResponse {
  status: number;
  /** Response headers, names lower-cased; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** What the application wrote to FCGI_STDERR. */
  stderr: string;
  /** appStatus from FCGI_END_REQUEST. */
  appStatus: number;
}

/** Builds the usual CGI params for a GET-like request to `uri` (path and query). */
export function cgiParams(uri: string, extra: Record<string, string> = {}): Record<string, string> {
  const q = uri.indexOf('?');
  return {
    GATEWAY_INTERFACE: 'CGI/1.1',
    SERVER_PROTOCOL: 'HTTP/1.1',
    REQUEST_METHOD: 'GET',
    REQUEST_URI: uri,
    SCRIPT_NAME: q === -1 ? uri : uri.slice(0, q),
    QUERY_STRING: q === -1 ? '' : uri.slice(q + 1),
    SERVER_NAME: 'localhost',
    SERVER_PORT: '80',
    REMOTE_ADDR: '127.0.0.1',
    REMOTE_PORT: '54321',
    ...extra,
  };
}

/**
 * Sends one FastCGI responder request over a new connection to the unix socket `sockFile`
 * and resolves with the parsed CGI response once the application ends the request.
 */
export function fastcgiRequest(
  sockFile: string,
  options: FastcgiRequestOptions,
): Promise<FastcgiResponse> {
  const { params, body, timeoutMs = 30_000 } = options;
  return new Promise<FastcgiResponse>((resolve, reject) => {
    let settled = false;
    const settle = (error: Error | undefined, response?: FastcgiResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else if (response) resolve(response);
    };
    const timer = setTimeout(() => {
      settle(new Error(`FastCGI request ${describe(params)} timed out after ${timeoutMs}ms`));
    }, timeoutMs);

    // Without skipCheckServer the client first asks FCGI_GET_VALUES on a separate connection.
    // Its default (no FCGI_MPXS_CONNS) is one connection per request, without FCGI_KEEP_CONN.
    const client = createClient({ sockFile, skipCheckServer: true });
    client.on('error', (error: Error) => settle(error));
    client.once('ready', () => {
      client.request(params, (error, request) => {
        if (error) {
          settle(new Error(`FastCGI request ${describe(params)} failed: ${error.message}`));
          return;
        }
        const stdout: Buffer[] = [];
        const stderr: Buffer[] = [];
        let stdoutEnded = false;
        let stderrEnded = false;
        const finish = (): void => {
          if (!stdoutEnded || !stderrEnded) return;
          const exit = request.getExitStatus();
          if (exit instanceof Error) {
            settle(new Error(`FastCGI request ${describe(params)}: ${exit.message}`));
            return;
          }
          try {
            const parsed = parseCgiResponse(Buffer.concat(stdout));
            settle(undefined, {
              ...parsed,
              stderr: Buffer.concat(stderr).toString('utf8'),
              appStatus: exit,
            });
          } catch (parseError) {
            settle(parseError as Error);
          }
        };
        request.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
        request.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        request.stdout.on('end', () => {
          stdoutEnded = true;
          finish();
        });
        request.stderr.on('end', () => {
          stderrEnded = true;
          finish();
        });
        if (body === undefined) request.stdin.end();
        else request.stdin.end(body);
      });
    });
  });
}

/** Splits a CGI response into status, headers and body (RFC 3875 section 6). */
export function parseCgiResponse(
  raw: Buffer,
): Pick<FastcgiResponse, 'status' | 'headers' | 'body'> {
  const crlf = raw.indexOf('\r\n\r\n');
  const lf = raw.indexOf('\n\n');
  let headEnd: number;
  let bodyStart: number;
  if (crlf !== -1 && (lf === -1 || crlf < lf)) {
    headEnd = crlf;
    bodyStart = crlf + 4;
  } else if (lf !== -1) {
    headEnd = lf;
    bodyStart = lf + 2;
  } else {
    throw new Error(
      `CGI response has no end of headers: ${JSON.stringify(raw.toString('latin1', 0, 200))}`,
    );
  }
  const headers: Record<string, string> = {};
  for (const line of raw.toString('latin1', 0, headEnd).split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`malformed CGI header line: ${JSON.stringify(line)}`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const previous = headers[name];
    headers[name] = previous === undefined ? value : `${previous}, ${value}`;
  }
  let status = 200;
  const statusHeader = headers.status;
  if (statusHeader !== undefined) {
    const match = /^(\d{3})(?:\s|$)/.exec(statusHeader);
    if (!match?.[1])
      throw new Error(`malformed CGI Status header: ${JSON.stringify(statusHeader)}`);
    status = Number(match[1]);
  }
  return { status, headers, body: raw.subarray(bodyStart) };
}

function describe(params: Record<string, string>): string {
  return `${params.REQUEST_METHOD ?? 'GET'} ${params.REQUEST_URI ?? params.SCRIPT_NAME ?? '?'}`;
}
