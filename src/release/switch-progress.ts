import type { ProgressEvent } from '../control/messages.js';
import { replicaProgress } from '../control/replica-progress.js';
import type { Supervisor } from '../supervisor/supervisor.js';

/**
 * Passes a switch's progress on as the CLI prints it: each replica step and surge decision,
 * and the cut-over. Returns the unsubscribe function.
 */
export function forwardSwitchProgress(
  supervisor: Supervisor,
  onEvent: (event: ProgressEvent) => void,
): () => void {
  const offReplica = supervisor.onEvent((event) => onEvent(replicaProgress(event)));
  const offToggle = supervisor.onToggle((event) =>
    onEvent({
      kind: 'toggle',
      release: event.release,
      previous: event.previous,
      message: `cut-over: new requests go to ${event.release}`,
    }),
  );
  return () => {
    offReplica();
    offToggle();
  };
}
