import { describe, expect, it } from 'vitest';
import { InFlightRequests } from '../../src/in-flight-requests.js';

describe('InFlightRequests', () => {
  it('counts every front and wakes the idle wait only when the last request has ended', async () => {
    const fastcgi = { activeRequests: 2 };
    const http = { activeRequests: 0 };
    const inFlight = new InFlightRequests();
    inFlight.add(fastcgi);
    inFlight.add(http);
    expect(inFlight.active).toBe(2);
    let idle = false;
    const waited = inFlight.untilIdle().then(() => {
      idle = true;
    });
    fastcgi.activeRequests = 1;
    http.activeRequests = 1;
    inFlight.ended();
    fastcgi.activeRequests = 0;
    inFlight.ended();
    await Promise.resolve();
    expect(idle).toBe(false);
    http.activeRequests = 0;
    inFlight.ended();
    await waited;
    expect(idle).toBe(true);
    await inFlight.untilIdle();
  });
});
