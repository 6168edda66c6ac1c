import { BalancerError, RETRY_AFTER_FOR, STATUS_FOR } from './balancer-error.js';

import { generatedResponse } from './generated-response.js';
import type { RequestBody } from './request-body.js';
import type { RequestParams } from './request-params.js';
import type { RequestInput, ResponseSink } from './response-sink.js';
import type { SessionTag } from './session-tag.js';

/**
 * One request's life in switchyard:
 * - receiving: BEGIN_REQUEST seen, params not complete yet
 * - queued: waiting for a free slot on a ready replica (or for its retry)
 * - proxying: a backend connection has it; no response byte has reached the client yet
 * - responding: the application's answer is streaming to the client; nothing is retried now
 * - done: answered, failed or aborted; every count has been released
 */
export type ExchangeState = 'receiving' | 'queued' | 'proxying' | 'responding' | 'done';

const ALLOWED: Record<ExchangeState, readonly ExchangeState[]> = {
  receiving: ['queued', 'done'],
  queued: ['proxying', 'done'],
  proxying: ['responding', 'queued', 'done'],
  responding: ['done'],
  done: [],
};

/** What the exchange needs from the backend connection that runs one attempt. */
export interface BackendAttempt {
  /** Stop reading the backend until `resume` (the client is slow). */
  pause(): void;
  resume(): void;
  /** Drop the attempt: the connection is destroyed, never reused. */
  abandon(): void;
}

/**
 * A header line per release for the responses a replica of that release answers, beside
 * the replica's header line: the static files' release cookie (`Set-Cookie: …`), set by the dispatcher
 * that wants it, so it costs nothing when off.
 */
export interface ReleaseResponseLine {
  lineFor(release: string): Buffer;
}

/** The replica an attempt runs on, as the exchange needs it to answer. */
export interface ServingReplica {
  /** This incarnation in the balancer: a retry names it, to go elsewhere when it can. */
  readonly id: string;
  /** Its release directory: the release line (the static files' cookie) names it. */
  readonly release: string;
  /** Its header line (`X-Release: 42\r\n`), written before the application's first byte. */
  readonly responseHeader?: Buffer | null;
}

/** What the exchange needs from the balancer. */
export interface Dispatcher {
  dispatch(exchange: Exchange): void;
  /**
   * A retry goes to the head of the queue: it has waited once already. `failedOn`: the
   * replica its attempt failed on (null when none was named).
   */
  retry(exchange: Exchange, failedOn: string | null): void;
  /** The exchange left the queue without being served (timed out or aborted). */
  forget(exchange: Exchange): void;
  /** The exchange is done (answered, generated, aborted or failed): whatever it held is free. */
  finished(exchange: Exchange): void;
}

export interface ExchangeOptions {
  readonly requestTimeoutMs: number;
  readonly maxAttempts: number;
  readonly onDone: (exchange: Exchange, outcome: ExchangeOutcome) => void;
}

export type ExchangeOutcome =
  | { readonly kind: 'answered'; readonly appStatus: number }
  | { readonly kind: 'generated'; readonly error: BalancerError }
  | { readonly kind: 'aborted'; readonly reason: string }
  | { readonly kind: 'failed-midway'; readonly error: Error };

export class Exchange {
  readonly params: RequestParams;
  readonly body: RequestBody;
  readonly #sink: ResponseSink;
  readonly #input: RequestInput;
  readonly #dispatcher: Dispatcher;
  readonly #options: ExchangeOptions;
  #state: ExchangeState = 'receiving';
  #attempt: BackendAttempt | null = null;
  #attempts = 0;
  #awaitingClientDrain = false;
  #requestTimer: NodeJS.Timeout | null = null;
  /** The replica of the latest attempt, or null before the first. */
  #replica: ServingReplica | null = null;
  /** A line by that replica's release, written after its header line; null for none. */
  releaseLine: ReleaseResponseLine | null = null;
  /** The session it belongs to, set by the session lanes before routing; null without one. */
  session: SessionTag | null = null;

  constructor(
    params: RequestParams,
    body: RequestBody,
    sink: ResponseSink,
    input: RequestInput,
    dispatcher: Dispatcher,
    options: ExchangeOptions,
  ) {
    this.params = params;
    this.body = body;
    this.#sink = sink;
    this.#input = input;
    this.#dispatcher = dispatcher;
    this.#options = options;
  }

  get state(): ExchangeState {
    return this.#state;
  }

  get attempts(): number {
    return this.#attempts;
  }

  /** Params are complete: the request enters the balancer. */
  admit(): void {
    this.#moveTo('queued');
    this.#requestTimer = setTimeout(() => this.#timedOut(), this.#options.requestTimeoutMs);
    this.#dispatcher.dispatch(this);
  }

  /** Called by the balancer before a connection to `replica` takes this request. */
  runsOn(replica: ServingReplica): void {
    this.#replica = replica;
  }

  /** Called by the balancer when a backend connection takes this request. */
  started(attempt: BackendAttempt): void {
    this.#moveTo('proxying');
    this.#attempt = attempt;
    this.#attempts += 1;
  }

  /** Called by the balancer when the request cannot be served (503 and friends). */
  reject(error: BalancerError): void {
    if (this.#state === 'done') return;
    this.#sink.stdout(
      generatedResponse(STATUS_FOR[error.code], error.message, RETRY_AFTER_FOR[error.code]),
    );
    this.#sink.end(0);
    this.#finish({ kind: 'generated', error });
  }

  /**
   * Answered by switchyard itself, no replica involved (a static file's internal redirect):
   * `response` is the whole CGI response. Only before a backend has the request.
   */
  respond(response: Buffer): void {
    if (this.#state !== 'queued') return;
    this.#sink.stdout(response);
    this.#sink.end(0);
    this.#finish({ kind: 'answered', appStatus: 0 });
  }

  onStdout(content: Buffer): void {
    if (this.#state === 'proxying') {
      this.#moveTo('responding');
      // The one place the release header is added, for every front: a header line first is a
      // valid CGI head whatever the application's own lines are (none at all included). Its
      // own record: the application's may already be a full 65535 bytes. The write of
      // `content` answers for both.
      const replica = this.#replica;
      if (replica !== null) {
        if (replica.responseHeader != null) this.#sink.stdout(replica.responseHeader);
        if (this.releaseLine !== null) this.#sink.stdout(this.releaseLine.lineFor(replica.release));
      }
    }
    if (this.#state !== 'responding') return;
    if (!this.#sink.stdout(content)) this.#backPressure();
  }

  /**
   * STDERR (PHP warnings) goes to the web server's log, not to the user, so it does not
   * count as the first response byte: the request can still be retried or answered 502/504.
   * It is flow-controlled like STDOUT: an application that writes megabytes of it to a
   * client that does not read must wait, not fill switchyard's memory.
   */
  onStderr(content: Buffer): void {
    if (this.#state !== 'proxying' && this.#state !== 'responding') return;
    if (!this.#sink.stderr(content)) this.#backPressure();
  }

  onEnd(appStatus: number): void {
    if (this.#state !== 'proxying' && this.#state !== 'responding') return;
    this.#attempt = null;
    this.#sink.end(appStatus);
    this.#finish({ kind: 'answered', appStatus });
  }

  /**
   * The backend connection failed. Before the first response byte, with the whole body still
   * held, the request is retried; otherwise the client is told: 502, or a closed connection
   * once part of the answer was sent.
   */
  onBackendFailure(error: Error, connectFailed = false, retryable = true): void {
    this.#attempt = null;
    this.body.detach();
    // A refused connection never reached the application: it costs no attempt. It cannot
    // loop either, since the refusing replica leaves the rotation.
    if (connectFailed) this.#attempts -= 1;
    if (this.#state === 'proxying') {
      if (retryable && this.body.retryable && this.#attempts < this.#options.maxAttempts) {
        this.#moveTo('queued');
        this.#dispatcher.retry(this, this.#replica?.id ?? null);
        return;
      }
      this.reject(
        new BalancerError('ERR_BACKEND_FAILED', `the application failed: ${error.message}`),
      );
      return;
    }
    if (this.#state === 'responding') {
      this.#sink.abort();
      this.#finish({ kind: 'failed-midway', error });
    }
  }

  /** The client went away or sent ABORT_REQUEST: free everything, answer nothing more. */
  abort(reason: string): void {
    if (this.#state === 'done') return;
    if (this.#state === 'queued') this.#dispatcher.forget(this);
    const attempt = this.#attempt;
    this.#attempt = null;
    this.body.detach();
    attempt?.abandon();
    this.#finish({ kind: 'aborted', reason });
  }

  /** Client input flow control, driven by the body and the backend's write buffer. */
  pauseInput(): void {
    this.#input.pause();
  }

  resumeInput(): void {
    this.#input.resume();
  }

  #backPressure(): void {
    const attempt = this.#attempt;
    // One drain listener per pause: every further record of the same read would add one.
    if (attempt === null || this.#awaitingClientDrain) return;
    this.#awaitingClientDrain = true;
    attempt.pause();
    this.#sink.onDrain(() => {
      this.#awaitingClientDrain = false;
      if (this.#attempt === attempt) attempt.resume();
    });
  }

  #timedOut(): void {
    this.#requestTimer = null;
    const error = new BalancerError(
      'ERR_REQUEST_TIMEOUT',
      `no complete answer within ${this.#options.requestTimeoutMs} ms`,
    );
    if (this.#state === 'queued') {
      this.#dispatcher.forget(this);
      this.reject(error);
    } else if (this.#state === 'proxying') {
      const attempt = this.#attempt;
      this.#attempt = null;
      this.body.detach();
      attempt?.abandon();
      this.reject(error);
    } else if (this.#state === 'responding') {
      const attempt = this.#attempt;
      this.#attempt = null;
      attempt?.abandon();
      this.#sink.abort();
      this.#finish({ kind: 'failed-midway', error });
    }
  }

  #finish(outcome: ExchangeOutcome): void {
    if (this.#state === 'done') return;
    this.#state = 'done';
    if (this.#requestTimer !== null) clearTimeout(this.#requestTimer);
    this.#requestTimer = null;
    this.#dispatcher.finished(this);
    this.#options.onDone(this, outcome);
  }

  #moveTo(next: ExchangeState): void {
    if (!ALLOWED[this.#state].includes(next)) {
      throw new Error(`exchange cannot go from ${this.#state} to ${next}`);
    }
    this.#state = next;
  }
}
