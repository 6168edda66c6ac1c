import { request as httpRequest, type IncomingMessage } from 'node:http';
import { ControlError, connectionError } from './control-error.js';
import {
  type AwaitRequest,
  CONTROL_ROUTES,
  type DaemonStatus,
  type DeployRequest,
  type DoneEvent,
  NDJSON_CONTENT_TYPE,
  type ProgressEvent,
  type ReplicaProgressEvent,
  type RestartRequest,
  type SurgeProgressEvent,
  type UpgradeRequest,
} from './messages.js';

/** A progress line before the final `done`: a replica's step, or the cut-over of a deploy. */
export type OperationProgressEvent = Exclude<ProgressEvent, DoneEvent>;
/** A progress line of a restart: a replica's step, or whether it surges. */
export type RestartProgressEvent = ReplicaProgressEvent | SurgeProgressEvent;
/** The cut-over of a deploy or rollback: from then on new requests go to `release`. */
export type ToggleProgressEvent = Extract<ProgressEvent, { kind: 'toggle' }>;

export interface ControlClientOptions {
  /**
   * Longest silence while waiting for a status answer (10 s unless told). Restart, deploy
   * and rollback have no bound: replicas may take their whole drain and start timeouts.
   */
  readonly timeoutMs?: number;
}

/** More than any status answer; something else on the socket could send without end. */
const MAX_ANSWER_CHARS = 4 * 1024 * 1024;

/** The CLI's side of the control socket. Every failure is a ControlError with a stable code. */
export class ControlClient {
  readonly socketPath: string;
  readonly #timeoutMs: number;

  constructor(socketPath: string, options: ControlClientOptions = {}) {
    this.socketPath = socketPath;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
  }

  async status(): Promise<DaemonStatus> {
    const response = await this.#request('GET', CONTROL_ROUTES.status, undefined, this.#timeoutMs);
    const text = await this.#readAll(response);
    if (response.statusCode !== 200) throw this.#refusal(response, text);
    const status = this.#parseJson(text, 'the status answer');
    if (!isObject(status) || !Array.isArray(status.replicas) || typeof status.pid !== 'number') {
      throw this.#protocolError('the status answer is not a switchyard status');
    }
    return status as unknown as DaemonStatus;
  }

  /**
   * Asks for a rolling restart (all replicas, or `request.replica`); calls `onEvent` for each
   * progress line as it arrives and resolves with the final `done` event, whether it says
   * ok or not. A refused request (a restart already running) rejects with the daemon's code.
   */
  restart(
    request: RestartRequest,
    onEvent: (event: RestartProgressEvent) => void,
  ): Promise<DoneEvent> {
    const body = JSON.stringify(request.replica === undefined ? {} : { replica: request.replica });
    return this.#stream('restart', CONTROL_ROUTES.restart, body, isRestartProgress, onEvent);
  }

  /**
   * Asks for a deploy of `request.target` (an absolute path: the daemon does not know the
   * CLI's cwd); streams replica steps and the cut-over (`toggle`) through `onEvent` and
   * resolves with the final `done` event, ok or not. A refused target rejects with
   * ERR_DEPLOY_TARGET before anything changed. There is no overall timeout: a deploy takes
   * as long as its replicas' drains, starts and warm-ups.
   */
  deploy(
    request: DeployRequest,
    onEvent: (event: OperationProgressEvent) => void,
  ): Promise<DoneEvent> {
    const body = JSON.stringify(
      request.force === undefined
        ? { target: request.target }
        : { target: request.target, force: request.force },
    );
    return this.#stream('deploy', CONTROL_ROUTES.deploy, body, isAnyProgress, onEvent);
  }

  /**
   * Asks for a rollback to the release before the current one; streams like deploy. With
   * nowhere to go back to it rejects with ERR_NO_ROLLBACK_TARGET.
   */
  rollback(onEvent: (event: OperationProgressEvent) => void): Promise<DoneEvent> {
    return this.#stream('rollback', CONTROL_ROUTES.rollback, '{}', isAnyProgress, onEvent);
  }

  /**
   * Waits until every replica serves `request.release` (or the symlink's target), streaming
   * the switch's progress like deploy; resolves with the final `done` event, ok or not. The
   * daemon ends the wait after `request.timeoutMs`.
   */
  awaitRelease(
    request: AwaitRequest,
    onEvent: (event: OperationProgressEvent) => void,
  ): Promise<DoneEvent> {
    const body = JSON.stringify(
      request.release === undefined
        ? { timeoutMs: request.timeoutMs }
        : { release: request.release, timeoutMs: request.timeoutMs },
    );
    return this.#stream('await', CONTROL_ROUTES.await, body, isAnyProgress, onEvent);
  }

  /**
   * Asks the daemon to start a successor on its sockets and hand over to it (`switchyard
   * upgrade`); resolves with the `done` line, ok or not (not: the old daemon serves on, and
   * says why). No progress lines: the steps are in the daemon's log.
   */
  upgrade(request: UpgradeRequest): Promise<DoneEvent> {
    const body = JSON.stringify(request.binary === undefined ? {} : { binary: request.binary });
    return this.#stream('upgrade', CONTROL_ROUTES.upgrade, body, isNoProgress, () => {});
  }

  /**
   * POSTs `body` and reads the NDJSON answer: each progress line of a kind this operation
   * `expects` goes to `onEvent` (any other is a protocol error), the `done` line ends it.
   */
  async #stream<E extends OperationProgressEvent>(
    what: string,
    path: string,
    body: string,
    expects: (event: OperationProgressEvent) => event is E,
    onEvent: (event: E) => void,
  ): Promise<DoneEvent> {
    const response = await this.#request('POST', path, body, undefined);
    if (response.statusCode !== 200) throw this.#refusal(response, await this.#readAll(response));
    const type = response.headers['content-type'] ?? '';
    if (!type.startsWith(NDJSON_CONTENT_TYPE)) {
      response.destroy();
      throw this.#protocolError(
        `the ${what} answer is ${type || 'untyped'}, not a progress stream`,
      );
    }

    let done: DoneEvent | undefined;
    /** What `onEvent` threw: the caller's own error, passed on as it is. */
    let callerError: { error: unknown } | undefined;
    const takeLine = (line: string): void => {
      if (line.trim() === '' || done !== undefined) return;
      const event = this.#parseJson(line, 'a progress line');
      if (isObject(event) && event.kind === 'done' && typeof event.ok === 'boolean') {
        done = event as unknown as DoneEvent;
        return;
      }
      if (!isProgressEvent(event) || !expects(event)) {
        throw this.#protocolError(`unexpected progress line: ${line.slice(0, 200)}`);
      }
      try {
        onEvent(event);
      } catch (error) {
        callerError = { error };
        throw error;
      }
    };

    response.setEncoding('utf8');
    let pending = '';
    try {
      for await (const chunk of response as AsyncIterable<string>) {
        pending += chunk;
        for (let end = pending.indexOf('\n'); end !== -1; end = pending.indexOf('\n')) {
          takeLine(pending.slice(0, end));
          pending = pending.slice(end + 1);
        }
        if (pending.length > MAX_ANSWER_CHARS)
          throw this.#protocolError('a progress line is too long');
      }
      takeLine(pending);
    } catch (error) {
      response.destroy();
      // The stream broke after the final line: the outcome is known all the same.
      if (done !== undefined) return done;
      if (error instanceof ControlError || callerError?.error === error) throw error;
      throw this.#cutOff(error);
    }
    if (done === undefined) throw this.#cutOff(undefined);
    return done;
  }

  #request(
    method: 'GET' | 'POST',
    path: string,
    body: string | undefined,
    timeoutMs: number | undefined,
  ): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const request = httpRequest(
        {
          socketPath: this.socketPath,
          path,
          method,
          // One connection per request, closed after it: the CLI exits right afterwards.
          agent: false,
          headers:
            body === undefined
              ? {}
              : { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) },
        },
        resolve,
      );
      request.on('error', (error) => reject(connectionError(this.socketPath, error)));
      if (timeoutMs !== undefined) {
        request.setTimeout(timeoutMs, () => {
          request.destroy(
            new ControlError(
              'ERR_CONTROL_TIMEOUT',
              `switchyard did not answer on ${this.socketPath} within ${timeoutMs / 1000}s: ` +
                'it may be overloaded or stuck; see its log (journalctl -u switchyard)',
            ),
          );
        });
      }
      request.end(body);
    });
  }

  async #readAll(response: IncomingMessage): Promise<string> {
    response.setEncoding('utf8');
    let text = '';
    try {
      for await (const chunk of response as AsyncIterable<string>) {
        text += chunk;
        if (text.length > MAX_ANSWER_CHARS) {
          response.destroy();
          throw this.#protocolError('the answer is too large');
        }
      }
    } catch (error) {
      if (error instanceof ControlError) throw error;
      throw this.#cutOff(error);
    }
    return text;
  }

  /** The daemon's refusal as a ControlError with its code, or a protocol error. */
  #refusal(response: IncomingMessage, text: string): ControlError {
    const status = response.statusCode ?? 0;
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const error = isObject(body) && isObject(body.error) ? body.error : undefined;
    if (
      error !== undefined &&
      typeof error.code === 'string' &&
      typeof error.message === 'string'
    ) {
      return new ControlError(error.code as `ERR_${string}`, error.message, { status });
    }
    return this.#protocolError(`HTTP ${status}: ${text.slice(0, 200).trim() || 'no body'}`);
  }

  #parseJson(text: string, what: string): unknown {
    try {
      return JSON.parse(text);
    } catch {
      throw this.#protocolError(`${what} is not JSON: ${text.slice(0, 200)}`);
    }
  }

  #protocolError(detail: string): ControlError {
    return new ControlError(
      'ERR_CONTROL_PROTOCOL',
      `unexpected answer on the control socket ${this.socketPath} (is it switchyard's?): ${detail}`,
    );
  }

  #cutOff(cause: unknown): ControlError {
    return new ControlError(
      'ERR_CONTROL_CONNECTION',
      `the connection to switchyard on ${this.socketPath} closed before its answer was complete: ` +
        'see `switchyard status` and the daemon log (journalctl -u switchyard)',
      { cause },
    );
  }
}

/** Deploy, rollback and await stream every kind of progress line. */
function isAnyProgress(_event: OperationProgressEvent): _event is OperationProgressEvent {
  return true;
}

/** A restart has no cut-over. */
function isRestartProgress(event: OperationProgressEvent): event is RestartProgressEvent {
  return event.kind !== 'toggle';
}

/** An upgrade streams no progress lines, only its `done`. */
function isNoProgress(_event: OperationProgressEvent): _event is never {
  return false;
}

/** A replica, surge or cut-over line, with the fields the CLI prints. */
function isProgressEvent(value: unknown): value is OperationProgressEvent {
  if (!isObject(value)) return false;
  if (value.kind === 'replica') return typeof value.name === 'string';
  if (value.kind === 'toggle') return typeof value.release === 'string';
  if (value.kind === 'surge') {
    return typeof value.surge === 'boolean' && typeof value.message === 'string';
  }
  return false;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
