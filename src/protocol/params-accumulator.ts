import { DEFAULT_MAX_PARAMS_BYTES } from './constants.js';
import { FcgiProtocolError } from './protocol-error.js';
import { RetainedChunks } from './retained-chunks.js';

/**
 * Collects one request's PARAMS stream. Web servers split params over records at any byte
 * (a pair may straddle two records), so the stream is only read once the empty PARAMS
 * record ends it. The cap bounds what one request can make us buffer; `retained` is what the
 * collected records really hold in memory (see RetainedChunks), for the connection's budget.
 */
export class ParamsAccumulator {
  readonly #maxBytes: number;
  readonly #chunks = new RetainedChunks();

  constructor(maxBytes: number = DEFAULT_MAX_PARAMS_BYTES) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#chunks.size;
  }

  /** Bytes of memory held for this stream so far. */
  get retained(): number {
    return this.#chunks.retained;
  }

  /** Adds a PARAMS record's content; throws ERR_FCGI_PARAMS_TOO_LARGE past the cap. */
  push(content: Buffer): void {
    if (this.#chunks.size + content.length > this.#maxBytes) {
      throw new FcgiProtocolError(
        'ERR_FCGI_PARAMS_TOO_LARGE',
        `PARAMS stream exceeds the ${this.#maxBytes}-byte cap`,
      );
    }
    this.#chunks.push(content);
  }

  /** The whole stream as one buffer, as it came (pairs are checked by whoever reads it). */
  finish(): Buffer {
    return this.#chunks.concat();
  }
}
