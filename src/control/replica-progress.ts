import type { SupervisorEvent } from '../supervisor/supervisor-events.js';
import type { ReplicaProgressEvent, SurgeProgressEvent } from './messages.js';

/** A supervisor event as the progress line a streamed operation sends to the CLI. */
export function replicaProgress(event: SupervisorEvent): ReplicaProgressEvent | SurgeProgressEvent {
  if (event.kind === 'surge') {
    return { kind: 'surge', surge: event.surge, reason: event.reason, message: event.message };
  }
  return {
    kind: 'replica',
    name: event.name,
    state: event.state,
    pid: event.pid,
    release: event.release,
    message: event.message,
  };
}
