import type { ReplicaEvent } from '../supervisor/supervisor.js';
import type { ReplicaProgressEvent } from './messages.js';

/** A supervisor event as the progress line a streamed operation sends to the CLI. */
export function replicaProgress(event: ReplicaEvent): ReplicaProgressEvent {
  return {
    kind: 'replica',
    name: event.name,
    state: event.state,
    pid: event.pid,
    release: event.release,
    message: event.message,
  };
}
