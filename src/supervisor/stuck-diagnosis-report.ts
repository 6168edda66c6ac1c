import type { Logger } from 'pino';
import type { SlotRequest } from '../balancer/replica-pool.js';
import type { SessionHasher } from '../sessions/session-hasher.js';
import { uriWithoutSession } from '../sessions/uri-without-session.js';
import {
  type DiagnosisEntry,
  diagnoseStuck,
  type ReplicaProcesses,
  type StuckRequest,
} from '../watchdog/stuck-diagnosis.js';
import type { StuckReport } from './stuck-watch.js';
import { liveGroupMembers } from './workers/process-stop.js';
import type { Worker } from './workers/worker.js';

/** How sessions are known, so that a diagnosis names them by hash only. */
export interface SessionSecrets {
  /** The session lanes' hasher: a lock wait names its session by the requests' hash. */
  readonly hasher: SessionHasher;
  /** `[sessions] params`: query parameters whose values are session ids, hidden in URIs. */
  readonly params: readonly string[];
}

/** A stuck request as status shows it: the diagnosis, and whether a client still waits. */
export interface StuckDiagnosis extends DiagnosisEntry {
  readonly held: SlotRequest['held'];
}

/** The status page must answer within this: php-fpm's spare child serves it. */
const STATUS_TIMEOUT_MS = 2_000;

/** Where the watchdog looks for a worker's processes: php-fpm's status page, or /proc. */
function processesOf(worker: Worker): ReplicaProcesses {
  if (worker.statusPath !== null) {
    return { kind: 'php-fpm', address: worker.address, statusPath: worker.statusPath };
  }
  return { kind: 'command', pids: worker.pids.flatMap((pid) => liveGroupMembers(pid)) };
}

/** What the worker got, from the params the web server sent (never the session id). */
function asStuckRequest(request: SlotRequest, now: number): StuckRequest {
  const [script, uri] = request.exchange.params.values(['SCRIPT_FILENAME', 'REQUEST_URI']);
  return {
    script: script ?? '',
    uri: uri ?? '',
    elapsedMs: now - request.startedAt,
    session: request.exchange.session?.hash ?? null,
    startedAt: request.startedAt,
  };
}

/** Diagnoses one replica's stuck requests; never throws (what cannot be read says so). */
export async function diagnoseSlot(
  name: string,
  worker: Worker,
  stuck: readonly SlotRequest[],
  sessions: SessionSecrets | null,
  now = Date.now(),
): Promise<StuckDiagnosis[]> {
  const entries = await diagnoseStuck({
    replica: name,
    processes: processesOf(worker),
    stuck: stuck.map((request) => asStuckRequest(request, now)),
    sessionHasher: sessions?.hasher ?? null,
    statusTimeoutMs: STATUS_TIMEOUT_MS,
  });
  // Hidden only now: the URI as sent is what pairs a request with php-fpm's child.
  return entries.map((entry, index) => ({
    ...entry,
    uri: uriWithoutSession(entry.uri, sessions?.params ?? []),
    held: stuck[index]?.held ?? 'running',
  }));
}

/** The one log line of a stuck request, as an operator reads it. */
export function stuckLine(entry: StuckDiagnosis): string {
  const seconds = Math.round(entry.elapsedMs / 1000);
  const pid = entry.pid === null ? '' : ` pid ${entry.pid}`;
  const session = entry.session === null ? '' : ` session ${entry.session}`;
  return `request stuck ${seconds} s on ${entry.replica}${pid}: ${entry.script} (${entry.uri})${session}, ${entry.blockedOn}`;
}

/**
 * One replica incarnation's diagnoses, one at a time: a report that comes while one runs is
 * kept (the latest, with every fresh request since) and diagnosed next, so no stuck request
 * misses its log line. Each fresh request is logged once; `show` gets every diagnosis.
 */
export class StuckDiagnoser {
  readonly #name: string;
  readonly #worker: Worker;
  readonly #sessions: SessionSecrets | null;
  readonly #logger: Logger;
  readonly #show: (entries: readonly StuckDiagnosis[]) => void;
  #running = false;
  #pending: StuckReport | null = null;
  #stopped = false;
  /** Bumped by clear(): a diagnosis begun before it shows nothing. */
  #generation = 0;

  constructor(
    name: string,
    worker: Worker,
    sessions: SessionSecrets | null,
    logger: Logger,
    show: (entries: readonly StuckDiagnosis[]) => void,
  ) {
    this.#name = name;
    this.#worker = worker;
    this.#sessions = sessions;
    this.#logger = logger;
    this.#show = show;
  }

  diagnose(report: StuckReport): void {
    if (this.#stopped) return;
    if (this.#running) {
      const fresh = [...(this.#pending?.fresh ?? []), ...report.fresh];
      this.#pending = { ...report, fresh };
      return;
    }
    this.#running = true;
    void this.#run(report);
  }

  /** Nothing is stuck any more: a diagnosis under way or waiting shows nothing. */
  clear(): void {
    this.#generation += 1;
    this.#pending = null;
  }

  /** The incarnation is gone: nothing more is shown or logged. */
  stop(): void {
    this.#stopped = true;
    this.#pending = null;
  }

  async #run(report: StuckReport): Promise<void> {
    const generation = this.#generation;
    const entries = await diagnoseSlot(this.#name, this.#worker, report.stuck, this.#sessions);
    if (!this.#stopped && generation === this.#generation) {
      this.#show(entries);
      const fresh = new Set(report.fresh);
      entries.forEach((entry, index) => {
        const request = report.stuck[index];
        if (request !== undefined && fresh.has(request)) this.#log(entry);
      });
    }
    this.#running = false;
    const next = this.#pending;
    this.#pending = null;
    if (next !== null) this.diagnose(next);
  }

  #log(entry: StuckDiagnosis): void {
    this.#logger.warn(
      {
        replica: entry.replica,
        workerPid: entry.pid,
        script: entry.script,
        uri: entry.uri,
        elapsedMs: entry.elapsedMs,
        session: entry.session,
        held: entry.held,
        blockedOn: entry.blockedOn,
      },
      stuckLine(entry),
    );
  }
}
