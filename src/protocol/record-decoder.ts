import { FCGI_HEADER_LENGTH, FCGI_VERSION_1 } from './constants.js';
import { FcgiProtocolError } from './protocol-error.js';

/**
 * Receives each complete record. `type` is passed through as read, including types the spec
 * does not define, so the caller can answer UNKNOWN_TYPE. `content` is a view into the bytes
 * that were written when the record arrived whole in one chunk, and a private copy when it
 * was assembled from several; either way the decoder never writes to it again.
 */
export type RecordHandler = (type: number, requestId: number, content: Buffer) => void;

const EMPTY = Buffer.alloc(0);

/**
 * Incremental FastCGI record decoder. It knows nothing of sockets: bytes go in with
 * `write` in any chunking, down to one byte at a time, and the same records come out.
 *
 * After a protocol error the decoder stays failed: every later `write` throws the same
 * error, because the byte stream has lost its framing and nothing after it can be trusted.
 */
export class RecordDecoder {
  readonly #onRecord: RecordHandler;
  readonly #header = Buffer.alloc(FCGI_HEADER_LENGTH);
  #headerFill = 0;
  /** Content being assembled across chunks, or null between records. */
  #content: Buffer | null = null;
  #contentFill = 0;
  #type = 0;
  #requestId = 0;
  /** Padding bytes still to skip after the current record's content. */
  #paddingLeft = 0;
  #error: FcgiProtocolError | null = null;

  constructor(onRecord: RecordHandler) {
    this.#onRecord = onRecord;
  }

  /** The error that failed this decoder, if any. */
  get error(): FcgiProtocolError | null {
    return this.#error;
  }

  /** True when no partial record is buffered: the stream ended on a record boundary. */
  get idle(): boolean {
    return this.#headerFill === 0 && this.#content === null && this.#paddingLeft === 0;
  }

  write(chunk: Buffer): void {
    if (this.#error !== null) throw this.#error;
    const end = chunk.length;
    let offset = 0;
    while (offset < end) {
      if (this.#content !== null) {
        offset = this.#continueContent(chunk, offset);
        continue;
      }
      if (this.#paddingLeft > 0) {
        const skip = Math.min(this.#paddingLeft, end - offset);
        this.#paddingLeft -= skip;
        offset += skip;
        continue;
      }
      if (this.#headerFill === 0 && end - offset >= FCGI_HEADER_LENGTH) {
        offset = this.#readRecordInPlace(chunk, offset);
        continue;
      }
      const take = Math.min(FCGI_HEADER_LENGTH - this.#headerFill, end - offset);
      chunk.copy(this.#header, this.#headerFill, offset, offset + take);
      this.#headerFill += take;
      offset += take;
      if (this.#headerFill === FCGI_HEADER_LENGTH) {
        this.#headerFill = 0;
        const contentLength = this.#parseHeader(this.#header, 0);
        if (contentLength === 0) this.#emit(EMPTY);
        else {
          this.#content = Buffer.allocUnsafe(contentLength);
          this.#contentFill = 0;
        }
      }
    }
  }

  /** Fast path: a whole header is in `chunk`; take the content as a view if it is all there. */
  #readRecordInPlace(chunk: Buffer, offset: number): number {
    const contentLength = this.#parseHeader(chunk, offset);
    const contentStart = offset + FCGI_HEADER_LENGTH;
    const available = chunk.length - contentStart;
    if (available >= contentLength) {
      const content =
        contentLength === 0 ? EMPTY : chunk.subarray(contentStart, contentStart + contentLength);
      this.#emit(content);
      return contentStart + contentLength;
    }
    const content = Buffer.allocUnsafe(contentLength);
    chunk.copy(content, 0, contentStart);
    this.#content = content;
    this.#contentFill = available;
    return chunk.length;
  }

  #continueContent(chunk: Buffer, offset: number): number {
    const content = this.#content as Buffer;
    const take = Math.min(content.length - this.#contentFill, chunk.length - offset);
    chunk.copy(content, this.#contentFill, offset, offset + take);
    this.#contentFill += take;
    if (this.#contentFill === content.length) {
      this.#content = null;
      this.#emit(content);
    }
    return offset + take;
  }

  /** Reads the header fields into the decoder's state and returns the content length. */
  #parseHeader(bytes: Buffer, at: number): number {
    const version = bytes[at] as number;
    if (version !== FCGI_VERSION_1) {
      this.#error = new FcgiProtocolError(
        'ERR_FCGI_BAD_VERSION',
        `FastCGI record with version ${version}; only version 1 exists`,
      );
      throw this.#error;
    }
    this.#type = bytes[at + 1] as number;
    this.#requestId = bytes.readUInt16BE(at + 2);
    // Padding is skipped after the record is handed out, so it never delays delivery.
    this.#paddingLeft = bytes[at + 6] as number;
    return bytes.readUInt16BE(at + 4);
  }

  #emit(content: Buffer): void {
    this.#onRecord(this.#type, this.#requestId, content);
  }
}
