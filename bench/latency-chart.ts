/** One request on the chart: x in seconds since the load began, y its latency in ms. */
export interface ChartPoint {
  readonly x: number;
  readonly y: number;
  /** A key of `ChartOptions.series`: the release that answered, or a failure. */
  readonly series: string;
}

export interface ChartMarker {
  /** Seconds since the load began. */
  readonly x: number;
  readonly label: string;
  readonly colour: string;
}

export interface ChartPanel {
  readonly title: string;
  readonly points: readonly ChartPoint[];
  readonly markers: readonly ChartMarker[];
}

export interface ChartOptions {
  readonly title: string;
  /** Series key → legend label and colour, drawn in this order (the last on top). */
  readonly series: Readonly<Record<string, { readonly label: string; readonly colour: string }>>;
  /** Series named in the legend even when no point has them (a failure colour, say). */
  readonly alwaysInLegend?: readonly string[];
}

const WIDTH = 960;
const PANEL_HEIGHT = 230;
const LEFT = 64;
const RIGHT = 16;
const TOP = 56;
/** Between panels: the x axis labels and the next panel's title. */
const GAP = 64;

/**
 * Latency over time as an SVG: one panel per run, stacked, sharing both axes (x linear in
 * seconds, y log in ms), one dot per request coloured by series, vertical marker lines.
 * Dots are zero-length path segments with round caps: one `<path>` per series and panel
 * keeps thousands of them small.
 */
export function latencyChart(panels: readonly ChartPanel[], options: ChartOptions): string {
  const all = panels.flatMap((panel) => panel.points);
  const latencies = all.map((point) => point.y).filter((y) => y > 0);
  const lowExponent = Math.floor(Math.log10(Math.min(...latencies, 1)));
  const highExponent = Math.ceil(Math.log10(Math.max(...latencies, 10)));
  const low = 10 ** lowExponent;
  const high = 10 ** highExponent;
  const xMax = Math.ceil(Math.max(...all.map((point) => point.x), 1));
  const plotWidth = WIDTH - LEFT - RIGHT;
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) - 16;
  const xPixel = (x: number) => LEFT + (x / xMax) * plotWidth;
  const yPixel = (top: number, y: number) => {
    const clamped = Math.min(Math.max(y, low), high);
    const share = Math.log10(clamped / low) / Math.log10(high / low);
    return top + PANEL_HEIGHT - share * PANEL_HEIGHT;
  };
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${height}" fill="white"/>`,
    `<text x="${LEFT}" y="20" font-size="15" font-weight="bold">${escapeXml(options.title)}</text>`,
  ];
  let legendX = LEFT;
  const shown = new Set([...all.map((point) => point.series), ...(options.alwaysInLegend ?? [])]);
  for (const [key, { label, colour }] of Object.entries(options.series)) {
    if (!shown.has(key)) continue;
    out.push(
      `<circle cx="${legendX + 5}" cy="36" r="4" fill="${colour}"/>`,
      `<text x="${legendX + 14}" y="40">${escapeXml(label)}</text>`,
    );
    legendX += 24 + label.length * 7;
  }
  const xStep = xMax > 40 ? 5 : 2;
  panels.forEach((panel, index) => {
    const top = TOP + 20 + index * (PANEL_HEIGHT + GAP);
    const bottom = top + PANEL_HEIGHT;
    out.push(
      `<text x="${LEFT}" y="${top - 8}" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    for (let exponent = lowExponent; exponent <= highExponent; exponent += 1) {
      const decade = 10 ** exponent;
      const y = round(yPixel(top, decade));
      out.push(
        `<line x1="${LEFT}" x2="${WIDTH - RIGHT}" y1="${y}" y2="${y}" stroke="#ddd"/>`,
        `<text x="${LEFT - 6}" y="${y + 4}" text-anchor="end">${formatMs(decade)}</text>`,
      );
    }
    for (let x = 0; x <= xMax; x += xStep) {
      const px = round(xPixel(x));
      out.push(
        `<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="#eee"/>`,
        `<text x="${px}" y="${bottom + 16}" text-anchor="middle">${x} s</text>`,
      );
    }
    out.push(
      `<rect x="${LEFT}" y="${top}" width="${plotWidth}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
    );
    for (const [key, { colour }] of Object.entries(options.series)) {
      const dots = panel.points
        .filter((point) => point.series === key)
        .map((point) => `M${round(xPixel(point.x))} ${round(yPixel(top, point.y))}h0`)
        .join('');
      if (dots !== '') {
        out.push(
          `<path d="${dots}" stroke="${colour}" stroke-width="3.5" stroke-linecap="round" stroke-opacity="0.7"/>`,
        );
      }
    }
    panel.markers.forEach((marker, k) => {
      const px = round(xPixel(marker.x));
      out.push(
        `<line x1="${px}" x2="${px}" y1="${top}" y2="${bottom}" stroke="${marker.colour}" stroke-width="1.5" stroke-dasharray="5 3"/>`,
        `<text x="${px + 4}" y="${top + 14 + k * 14}" fill="${marker.colour}">${escapeXml(marker.label)}</text>`,
      );
    });
  });
  out.push(
    `<text x="${LEFT + plotWidth / 2}" y="${height - 4}" text-anchor="middle">seconds since the load began (dot: a request at its send time; y: its latency, log scale)</text>`,
    '</svg>',
    '',
  );
  return out.join('\n');
}

function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}

function escapeXml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
