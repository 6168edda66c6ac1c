import { DEFAULT_MAX_PARAMS_BYTES } from './constants.js';
import { FcgiProtocolError } from './protocol-error.js';

/**
 * Collects one request's PARAMS stream. Web servers split params over records at any byte
 * (a pair may straddle two records), so the stream is only read once the empty PARAMS
 * record ends it. The cap bounds what one request can make us buffer.
 */
export class ParamsAccumulator {
  readonly #maxBytes: number;
  readonly #parts: Buffer[] = [];
  #size = 0;

  constructor(maxBytes: number = DEFAULT_MAX_PARAMS_BYTES) {
    this.#maxBytes = maxBytes;
  }

  get size(): number {
    return this.#size;
  }

  /** Adds a PARAMS record's content; throws ERR_FCGI_PARAMS_TOO_LARGE past the cap. */
  push(content: Buffer): void {
    this.#size += content.length;
    if (this.#size > this.#maxBytes) {
      throw new FcgiProtocolError(
        'ERR_FCGI_PARAMS_TOO_LARGE',
        `PARAMS stream exceeds the ${this.#maxBytes}-byte cap`,
      );
    }
    this.#parts.push(content);
  }

  /** The whole stream as one buffer, as it came (pairs are checked by whoever reads it). */
  finish(): Buffer {
    return this.#parts.length === 1
      ? (this.#parts[0] as Buffer)
      : Buffer.concat(this.#parts, this.#size);
  }
}
