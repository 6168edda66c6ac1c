import type { RunningDaemon } from './daemon.js';
import { CoalescedStatus } from './systemd/coalesced-status.js';
import type { SystemdNotifier } from './systemd/notifier.js';
import { type ServiceView, statusLine } from './systemd/status-line.js';

/** The STATUS= line, kept current while the daemon runs. */
export interface ServiceStatus {
  /** The line as of now (READY=1 and STOPPING=1 carry one). */
  line(): string;
  stop(): void;
}

/**
 * Sends `systemctl status`'s line on each replica step, cut-over, change of the desired
 * release and operation taking or leaving the lock, at most once a second (CoalescedStatus); `externalReplicas` is the count of
 * replicas switchyard does not run (no supervisor to ask).
 */
export function reportServiceStatus(
  daemon: RunningDaemon,
  notifier: SystemdNotifier,
  externalReplicas: number,
): ServiceStatus {
  const view = (): ServiceView => {
    const { supervisor, balancer, lock } = daemon;
    const serving = balancer.servingRelease;
    if (supervisor === null) {
      return {
        serving,
        switchingTo: null,
        ready: externalReplicas,
        total: externalReplicas,
        operation: lock.holder,
      };
    }
    const desired = supervisor.desired.release;
    return {
      serving,
      switchingTo: desired !== serving ? desired : null,
      ready: supervisor.snapshot().filter((slot) => slot.state === 'ready').length,
      total: supervisor.desired.count,
      operation: lock.holder,
    };
  };
  const line = () => statusLine(view());
  if (!notifier.enabled) return { line, stop: () => {} };
  const status = new CoalescedStatus((text) => notifier.status(text));
  const update = () => status.update(line());
  const unsubscribe = [
    daemon.supervisor?.onChange(update) ?? (() => {}),
    daemon.supervisor?.onEvent(update) ?? (() => {}),
    daemon.lock.onChange(update),
  ];
  return {
    line,
    stop: () => {
      for (const off of unsubscribe) off();
      status.close();
    },
  };
}
