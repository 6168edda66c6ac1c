/**
 * Where one request's answer goes: back to a FastCGI client (with its own request id) or
 * out as an HTTP response. The exchange drives it; it knows nothing of replicas.
 */
export interface ResponseSink {
  /** Forwards STDOUT content. Returns false when the client is slow: wait for `onDrain`. */
  stdout(content: Buffer): boolean;
  /** Forwards STDERR content; returns false, like `stdout`, when the client is slow. */
  stderr(content: Buffer): boolean;
  /** The application finished: write END_REQUEST (or end the HTTP response). */
  end(appStatus: number): void;
  /**
   * The answer cannot be completed after part of it was sent: fail loudly (close the client
   * connection) so the client never takes a truncated response for a whole one.
   */
  abort(): void;
  /** Calls `listener` once the client has taken what was written. */
  onDrain(listener: () => void): void;
}

/** The client side's input flow control: a request body is read only as fast as it is sent on. */
export interface RequestInput {
  pause(): void;
  resume(): void;
}
