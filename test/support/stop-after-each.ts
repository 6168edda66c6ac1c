import { afterEach } from 'vitest';

/** What a test starts and must end: a daemon (`cleanup`) or a web server (`stop`). */
export type Started = { cleanup(): Promise<void> } | { stop(): Promise<void> };

/**
 * Registers an afterEach that ends whatever the test kept, the last started first (the web
 * server before the daemon behind it), however the test ended. Returns `keep`, which passes
 * what it is given through: `daemon = keep(await startManagedDaemon(…))`.
 */
export function stopAfterEach(): <T extends Started>(started: T) => T {
  const kept: Started[] = [];
  afterEach(async () => {
    for (const started of kept.splice(0).reverse()) {
      await ('cleanup' in started ? started.cleanup() : started.stop());
    }
  });
  return (started) => {
    kept.push(started);
    return started;
  };
}
