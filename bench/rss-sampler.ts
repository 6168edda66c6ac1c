import { performance } from 'node:perf_hooks';
import { rss } from '../test/support/proc-memory.js';

export interface RssSample {
  /** Seconds after sampling began. */
  readonly atSeconds: number;
  readonly bytes: number;
}

export interface RssSampler {
  /** Stops sampling (with a last sample, when the process still runs); every sample by time. */
  stop(): readonly RssSample[];
}

/**
 * Reads `pid`'s resident memory (VmRSS) now and every `everyMs`, until stopped or the process
 * is gone: over a long run, the trend the start and end figures alone would hide.
 */
export function startRssSampler(pid: number, everyMs: number): RssSampler {
  const started = performance.now();
  const samples: RssSample[] = [];
  const sample = () => {
    try {
      samples.push({ atSeconds: (performance.now() - started) / 1000, bytes: rss(pid) });
    } catch {
      clearInterval(timer);
    }
  };
  const timer = setInterval(sample, everyMs);
  sample();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return samples;
    },
  };
}

export interface RssTrend {
  readonly firstQuarterMean: number;
  readonly lastQuarterMean: number;
  /** Least-squares slope over every sample, bytes per minute. */
  readonly slopePerMinute: number;
}

/** Growth over a run: the first and last quarters' means, and the fitted slope. */
export function rssTrend(samples: readonly RssSample[]): RssTrend {
  const quarter = Math.max(1, Math.floor(samples.length / 4));
  const mean = (part: readonly RssSample[]) =>
    part.reduce((sum, s) => sum + s.bytes, 0) / Math.max(1, part.length);
  const meanT = samples.reduce((sum, s) => sum + s.atSeconds, 0) / Math.max(1, samples.length);
  const meanB = mean(samples);
  let covariance = 0;
  let variance = 0;
  for (const s of samples) {
    covariance += (s.atSeconds - meanT) * (s.bytes - meanB);
    variance += (s.atSeconds - meanT) ** 2;
  }
  return {
    firstQuarterMean: mean(samples.slice(0, quarter)),
    lastQuarterMean: mean(samples.slice(-quarter)),
    slopePerMinute: variance > 0 ? (covariance / variance) * 60 : 0,
  };
}
