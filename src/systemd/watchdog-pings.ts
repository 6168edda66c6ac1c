import type { SystemdNotifier } from './notifier.js';

/**
 * WATCHDOG=1 at half of WATCHDOG_USEC (sd_watchdog_enabled(3)'s advice), from a timer on the
 * event loop: a loop wedged by a hot loop or a blocking call sends nothing, and systemd
 * restarts the daemon. Returns the stop. Unreferenced: it must not keep a stopping daemon up.
 */
export function startWatchdogPings(notifier: SystemdNotifier, usec: number): () => void {
  const periodMs = Math.max(1, Math.floor(usec / 2 / 1000));
  notifier.watchdog();
  const timer = setInterval(() => notifier.watchdog(), periodMs);
  timer.unref();
  return () => clearInterval(timer);
}
