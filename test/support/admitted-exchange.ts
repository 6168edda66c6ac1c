import { type Dispatcher, Exchange, type ExchangeOutcome } from '../../src/request/exchange.js';
import { RequestBody } from '../../src/request/request-body.js';
import { PairParams } from '../../src/request/request-params.js';

/** An exchange admitted to a dispatcher by an in-memory client that records what it gets. */
export interface AdmittedExchange {
  readonly exchange: Exchange;
  /** Settles with the outcome once the exchange is done. */
  readonly outcome: Promise<ExchangeOutcome>;
  /** The outcome, or null while the exchange runs. */
  readonly settled: () => ExchangeOutcome | null;
  /** What the client received, STDOUT concatenated. */
  readonly output: (encoding?: BufferEncoding) => string;
}

/** A request with these params and an empty body, admitted to `dispatcher` at once. */
export function admitExchange(
  dispatcher: Dispatcher,
  pairs: ReadonlyArray<[string, string]>,
): AdmittedExchange {
  const chunks: Buffer[] = [];
  let done: ExchangeOutcome | null = null;
  let resolve: (outcome: ExchangeOutcome) => void = () => {};
  const outcome = new Promise<ExchangeOutcome>((r) => {
    resolve = r;
  });
  const exchange = new Exchange(
    new PairParams([...pairs]),
    new RequestBody(1024),
    {
      stdout: (content) => {
        chunks.push(Buffer.from(content));
        return true;
      },
      stderr: () => true,
      end: () => {},
      abort: () => {},
      onDrain: (listener) => setImmediate(listener),
    },
    { pause() {}, resume() {} },
    dispatcher,
    {
      requestTimeoutMs: 60_000,
      maxAttempts: 3,
      onDone: (_exchange, result) => {
        done = result;
        resolve(result);
      },
    },
  );
  exchange.body.end();
  exchange.admit();
  return {
    exchange,
    outcome,
    settled: () => done,
    output: (encoding = 'latin1') => Buffer.concat(chunks).toString(encoding),
  };
}
