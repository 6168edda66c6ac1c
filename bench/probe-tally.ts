import type { ProbeEnd, ProbeOutcome } from './fcgi-probe.js';

/**
 * Probe outcomes added up as they come: a million of them are counts, a histogram and one
 * number each (the time to the server's close), not a million objects.
 */
export class ProbeTally {
  connections = 0;
  readonly ends: Record<ProbeEnd, number> = {
    'server closed': 0,
    answered: 0,
    'client closed': 0,
    'connect failed': 0,
  };
  /** From connect to the server's close, for the connections it closed. */
  readonly closeMs: number[] = [];
  /** CGI statuses answered, and how often. */
  readonly statuses = new Map<number, number>();
  /** Socket errors seen (ECONNRESET when the server closed with bytes unread, …). */
  readonly errors = new Map<string, number>();

  add(outcome: ProbeOutcome): void {
    this.connections += 1;
    this.ends[outcome.end] += 1;
    if (outcome.end === 'server closed') this.closeMs.push(outcome.ms);
    for (const status of outcome.statuses) {
      this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    }
    if (outcome.error !== null) {
      this.errors.set(outcome.error, (this.errors.get(outcome.error) ?? 0) + 1);
    }
  }
}
