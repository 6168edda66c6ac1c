import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { InFlightRequests } from '../../src/in-flight-requests.js';
import { destroyNow, type RunningParts, shutDown } from '../../src/shutdown-sequence.js';

// The order is the promise: every admitted request finishes on the replicas that took it, the
// removal checks stop before closing removes socket files, the replicas stop last.

const logger = pino({ level: 'silent' });

/** Running parts that write each call into `calls`; a request in flight on the FastCGI front. */
function recordingParts(calls: string[]) {
  const fastcgi = { activeRequests: 1 };
  const inFlight = new InFlightRequests();
  inFlight.add(fastcgi);
  const front = (name: string) => ({
    shutdown: () => calls.push(`${name}.shutdown`),
    stopAccepting: () => calls.push(`${name}.stopAccepting`),
    destroyAll: () => calls.push(`${name}.destroyAll`),
  });
  const parts = {
    watches: [() => calls.push('watches.stop')],
    deployer: { stop: () => calls.push('deployer.stop') },
    fronts: [front('fastcgi'), front('http')],
    inFlight,
    watcher: { close: async () => calls.push('watcher.close') },
    control: { close: async () => calls.push('control.close') },
    balancer: { close: () => calls.push('balancer.close') },
    supervisor: {
      shutdown: async (graceMs?: number) =>
        calls.push(`supervisor.shutdown(${graceMs ?? 'drain timeout'})`),
    },
  } as unknown as RunningParts;
  const lastRequestEnds = () => {
    calls.push('request ended');
    fastcgi.activeRequests = 0;
    inFlight.ended();
  };
  return { parts, lastRequestEnds };
}

describe('shutdown sequence', () => {
  it('a graceful stop waits for requests in flight and stops the replicas last', async () => {
    const calls: string[] = [];
    const { parts, lastRequestEnds } = recordingParts(calls);
    const stopped = shutDown(parts, logger);
    await new Promise((resolve) => setTimeout(resolve, 20));
    lastRequestEnds();
    await stopped;
    expect(calls).toEqual([
      'watches.stop',
      'deployer.stop',
      'fastcgi.shutdown',
      'http.shutdown',
      'request ended',
      'watcher.close',
      'control.close',
      'balancer.close',
      'fastcgi.destroyAll',
      'http.destroyAll',
      'supervisor.shutdown(drain timeout)',
    ]);
  });

  it('a stop at once closes every connection and kills the replicas without waiting', () => {
    const calls: string[] = [];
    const { parts } = recordingParts(calls);
    destroyNow(parts);
    expect(calls).toEqual([
      'watches.stop',
      'deployer.stop',
      'fastcgi.stopAccepting',
      'fastcgi.destroyAll',
      'http.stopAccepting',
      'http.destroyAll',
      'watcher.close',
      'control.close',
      'balancer.close',
      'supervisor.shutdown(0)',
    ]);
  });
});
