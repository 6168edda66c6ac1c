import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { parseCgiResponseHead } from '../src/protocol/cgi-response.js';
import { RecordType } from '../src/protocol/constants.js';
import { RecordDecoder } from '../src/protocol/record-decoder.js';

/** What one hostile or odd FastCGI client does on its connection. */
export interface ProbeScript {
  /** Written one after the other, each once the last has gone to the kernel. */
  readonly chunks: readonly Buffer[];
  /**
   * After writing: `destroy` closes at once; `half-close` ends our side (FIN) and waits for
   * the server to close; `hold` keeps the connection open and waits.
   */
  readonly finish: 'destroy' | 'half-close' | 'hold';
  /**
   * The longest the connection may live once connected, writing included (a server that
   * stops reading leaves a write pending): then we close it.
   */
  readonly lifetimeMs: number;
  /** END_REQUESTs that end the wait early (the whole requests the script sent); 0 for none. */
  readonly answers: number;
  /** Reads nothing the server sends: its answers pile up on the server's side. */
  readonly deaf: boolean;
}

/** A unix socket connects at once unless the server's accept queue is full. */
const CONNECT_TIMEOUT_MS = 10_000;

/** How the connection ended: whose close, or that it never opened. */
export type ProbeEnd = 'server closed' | 'answered' | 'client closed' | 'connect failed';

export interface ProbeOutcome {
  readonly end: ProbeEnd;
  /** From connect to the end. */
  readonly ms: number;
  readonly endRequests: number;
  /** The statuses of the CGI heads answered (a 200 of a whole request, a 503, …). */
  readonly statuses: readonly number[];
  /** The socket error, when there was one (a refused connect, a reset). */
  readonly error: string | null;
}

/**
 * Runs one script against a FastCGI socket and reports how it ended. Never rejects: every
 * probe is accounted for, failures to connect included (those say the server stopped
 * accepting, which a fuzz run must notice).
 */
export function runProbe(socketPath: string, script: ProbeScript): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(socketPath);
    const heads = new Map<number, Buffer>();
    const statuses: number[] = [];
    let endRequests = 0;
    let connected = false;
    let error: string | null = null;
    let done = false;
    const finish = (end: ProbeEnd) => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      socket.destroy();
      resolve({ end, ms: performance.now() - started, endRequests, statuses, error });
    };
    const decoder = new RecordDecoder((type, requestId, content) => {
      if (type === RecordType.Stdout && content.length > 0) {
        const head = heads.get(requestId);
        if (head === undefined || head.length > 0) {
          const bytes = head === undefined ? Buffer.from(content) : Buffer.concat([head, content]);
          const parsed = parseCgiResponseHead(bytes);
          if (parsed !== null) statuses.push(parsed.status);
          // An empty buffer marks a request whose head is read: its body is not kept.
          heads.set(requestId, parsed === null ? bytes : Buffer.alloc(0));
        }
      } else if (type === RecordType.EndRequest) {
        endRequests += 1;
        heads.delete(requestId);
        if (script.answers > 0 && endRequests >= script.answers) finish('answered');
      }
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.write(chunk);
      } catch {
        // A server that answers garbage is the server's bug; the outcome shows it closed.
        error = 'the answer did not decode';
      }
    });
    if (script.deaf) socket.pause();
    socket.on('error', (cause: NodeJS.ErrnoException) => {
      error = cause.code ?? cause.message;
    });
    socket.on('close', () => finish(connected ? 'server closed' : 'connect failed'));
    let deadline = setTimeout(() => {
      error ??= 'connect timed out';
      finish('connect failed');
    }, CONNECT_TIMEOUT_MS);
    socket.once('connect', async () => {
      connected = true;
      clearTimeout(deadline);
      deadline = setTimeout(() => finish('client closed'), script.lifetimeMs);
      for (const chunk of script.chunks) {
        const written = await new Promise<boolean>((next) =>
          socket.write(chunk, (cause) => next(cause == null)),
        );
        if (!written || done) return;
      }
      if (script.finish === 'destroy') {
        finish('client closed');
        return;
      }
      if (script.finish === 'half-close') socket.end();
    });
  });
}
