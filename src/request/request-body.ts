import { RetainedChunks } from '../protocol/retained-chunks.js';

/** Where body bytes go once a backend attempt runs. */
export interface BodyWriter {
  /** Returns false when the backend is slow to take the bytes. */
  write(chunk: Buffer): boolean;
  end(): void;
}

/**
 * One request's STDIN. Bytes are kept while the body stays within the retry limit, so that an
 * attempt that fails before the first response byte can be replayed on another connection.
 * A larger body is streamed: kept only until a backend takes it, and then not retryable.
 * Kept bytes are copied out of big socket reads when small (see RetainedChunks), and what they
 * hold is reported as `retained`, for the client connection's budget.
 */
export class RequestBody {
  readonly #retryLimit: number;
  readonly #kept = new RetainedChunks();
  #size = 0;
  #ended = false;
  #writer: BodyWriter | null = null;

  constructor(retryLimit: number) {
    this.#retryLimit = retryLimit;
  }

  get size(): number {
    return this.#size;
  }

  /** Bytes of memory the body holds now (received and kept for a backend or a retry). */
  get retained(): number {
    return this.#kept.retained;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** True while every byte received so far is still held, so an attempt can be replayed. */
  get retryable(): boolean {
    return this.#size <= this.#retryLimit;
  }

  /**
   * Adds received bytes. Returns false when the sender should pause: the backend is slow, or
   * no backend has the request yet and the held bytes passed the retry limit.
   */
  push(chunk: Buffer): boolean {
    this.#size += chunk.length;
    const writer = this.#writer;
    if (writer === null) {
      this.#kept.push(chunk);
      return this.#size <= this.#retryLimit;
    }
    if (this.retryable) this.#kept.push(chunk);
    else this.#kept.clear();
    return writer.write(chunk);
  }

  end(): void {
    this.#ended = true;
    this.#writer?.end();
  }

  /**
   * Hands the body to a backend attempt: what was received is written at once, the rest as
   * it arrives. Returns the last write's flow-control answer.
   */
  attach(writer: BodyWriter): boolean {
    this.#writer = writer;
    let flowing = true;
    for (const chunk of this.#kept.chunks()) flowing = writer.write(chunk);
    if (!this.retryable) this.#kept.clear();
    if (this.#ended) writer.end();
    return flowing;
  }

  detach(): void {
    this.#writer = null;
  }
}
