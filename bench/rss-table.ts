import { mib } from '../test/support/proc-memory.js';
import { type RssSample, rssTrend } from './rss-sampler.js';

/** The daemon's memory: at start, its peak, at the end, and whether it grew over the run. */
export function rssTable(start: number, peak: number, samples: readonly RssSample[]): string {
  const trend = rssTrend(samples);
  const end = samples.at(-1)?.bytes ?? 0;
  const tenths = Array.from({ length: 10 }, (_, k) => {
    const part = samples.slice(
      Math.floor((k * samples.length) / 10),
      Math.floor(((k + 1) * samples.length) / 10),
    );
    return part.length === 0 ? '–' : mib(part.reduce((sum, s) => sum + s.bytes, 0) / part.length);
  });
  return [
    '| RSS when the load began | peak (VmHWM) | at the end | mean, first quarter | mean, last quarter | fitted slope | samples |',
    '| ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    `| ${mib(start)} | ${mib(peak)} | ${mib(end)} | ${mib(trend.firstQuarterMean)} | ${mib(trend.lastQuarterMean)} | ${(trend.slopePerMinute / 1024 ** 2).toFixed(2)} MiB/min | ${samples.length} |`,
    '',
    `Mean RSS in each tenth of the run: ${tenths.join(', ')}.`,
  ].join('\n');
}
