/**
 * Latency against load as a small hand-written SVG: ours (the many-users mix and the hot
 * senders) beside the bare baselines of the same run. Log scales on both axes, since the
 * baselines answer ten times the rate at a tenth of the latency.
 */
type Point = { rate: number; p50: number; p99: number; note?: string };
type Series = { name: string; color: string; points: Point[] };
type Target = { rate: number; ms: number };

/** What the plot needs of a run: each scenario's id and raw metrics (a report, or its JSON). */
export type PlotInput = {
  label: string;
  startedAt: Date | string;
  scenarios: { id: string; metrics: Record<string, number> }[];
};

const WIDTH = 840;
const HEIGHT = 460;
const PLOT = { left: 64, right: 540, top: 44, bottom: 400 };
const COLORS = ["#1f5fa8", "#e07b00", "#2a9d4b", "#c0392b", "#7b4fa8", "#8a5a44", "#c2569b"];

const finite = (value: number | undefined): value is number => value !== undefined && Number.isFinite(value) && value > 0;

function seriesOf(input: PlotInput): { series: Series[]; targets: Target[] } {
  const metrics = (id: string) => input.scenarios.find((scenario) => scenario.id === id)?.metrics;
  const series: Series[] = [];
  const targets: Target[] = [];
  const add = (name: string, points: Point[]) => {
    const kept = points.filter((point) => finite(point.rate) && finite(point.p50) && finite(point.p99));
    if (kept.length > 0) series.push({ name, color: COLORS[series.length % COLORS.length]!, points: kept });
  };
  const mix = metrics("direct-mix");
  if (mix) {
    const percents = Object.keys(mix)
      .map((key) => /^load(\d+)Offered$/.exec(key)?.[1])
      .filter((percent) => percent !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    add("ours: many users", [
      ...percents.map((percent) => ({
        rate: mix[`load${percent}Offered`]!,
        p50: mix[`load${percent}DeliveryP50`]!,
        p99: mix[`load${percent}DeliveryP99`]!,
        note: `${percent} %`,
      })),
      { rate: mix.saturationAcceptedPerSecond!, p50: mix.saturationDeliveryP50!, p99: mix.saturationDeliveryP99!, note: "sat." },
    ]);
    const saturation = mix.saturationAcceptedPerSecond;
    if (finite(saturation)) {
      if (percents.includes(50)) targets.push({ rate: saturation * 0.5, ms: 50 });
      if (percents.includes(70)) targets.push({ rate: saturation * 0.7, ms: 100 });
    }
  }
  const hot = metrics("direct-hot");
  if (hot) {
    add("ours: few hot senders", [
      { rate: hot.fixedAcceptedPerSecond!, p50: hot.fixedDeliveryP50!, p99: hot.fixedDeliveryP99! },
      { rate: hot.saturationAcceptedPerSecond!, p50: hot.saturationDeliveryP50!, p99: hot.saturationDeliveryP99! },
    ]);
  }
  const baselines = metrics("baselines");
  if (baselines) {
    const bare = (name: string, prefix: string, rateKey: string) =>
      add(name, [{ rate: baselines[rateKey]!, p50: baselines[`${prefix}LatencyP50`]!, p99: baselines[`${prefix}LatencyP99`]! }]);
    bare("bare node:http, trivial POST", "node", "nodeRequestsPerSecond");
    bare("bare @hono/node-server, trivial POST", "hono", "honoRequestsPerSecond");
    bare("postgres.js: one insert per message", "pgMode0", "pgMode0PerSecond");
    bare("postgres.js: a transaction per message", "pgMode1", "pgMode1PerSecond");
    bare("postgres.js: 32 messages per transaction", "pgMode2", "pgMode2PerSecond");
  }
  return { series, targets };
}

/** Powers of ten spanning [low, high], at least one decade. */
function decades(low: number, high: number): [number, number] {
  const from = Math.floor(Math.log10(low));
  const to = Math.max(from + 1, Math.ceil(Math.log10(high)));
  return [from, to];
}

/** Grid lines over decades `from`..`to` of a log axis: 1, 2 and 5 of each decade (1 is major), then the last power. */
function* ticks(from: number, to: number): Generator<{ value: number; major: boolean }> {
  for (let power = from; power <= to; power++)
    for (const step of power < to ? [1, 2, 5] : [1]) yield { value: step * 10 ** power, major: step === 1 };
}

function tickLabel(value: number, unit: string): string {
  if (unit === "ms") return value >= 1000 ? `${value / 1000} s` : value >= 1 ? `${value} ms` : `${value * 1000} µs`;
  return value >= 1000 ? `${value / 1000}k` : `${value}`;
}

const escapeXml = (text: string) => text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");

/** The SVG text, or undefined when the run measured nothing to plot. */
export function latencySvg(input: PlotInput): string | undefined {
  const { series, targets } = seriesOf(input);
  if (series.length === 0) return undefined;
  const points = series.flatMap((one) => one.points);
  const [xFrom, xTo] = decades(Math.min(...points.map((point) => point.rate)), Math.max(...points.map((point) => point.rate)));
  const latencies = [...points.flatMap((point) => [point.p50, point.p99]), ...targets.map((target) => target.ms)];
  const [yFrom, yTo] = decades(Math.min(...latencies), Math.max(...latencies));
  const x = (rate: number) => PLOT.left + ((Math.log10(rate) - xFrom) / (xTo - xFrom)) * (PLOT.right - PLOT.left);
  const y = (ms: number) => PLOT.bottom - ((Math.log10(ms) - yFrom) / (yTo - yFrom)) * (PLOT.bottom - PLOT.top);
  const f = (value: number) => value.toFixed(1);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="11">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${PLOT.left}" y="18" font-size="13" font-weight="bold">Send → delivery latency against load</text>`,
    `<text x="${PLOT.left}" y="34" fill="#555">run ${escapeXml(input.label)}, ${new Date(input.startedAt).toISOString().slice(0, 16).replace("T", " ")} UTC · filled: p50 · hollow: p99 · baselines: closed loop</text>`,
  );
  for (const { value, major } of ticks(xFrom, xTo)) {
    out.push(
      `<line x1="${f(x(value))}" x2="${f(x(value))}" y1="${PLOT.top}" y2="${PLOT.bottom}" stroke="${major ? "#ccc" : "#eee"}"/>`,
      `<text x="${f(x(value))}" y="${PLOT.bottom + 14}" text-anchor="middle" fill="#444">${tickLabel(value, "rate")}</text>`,
    );
  }
  for (const { value, major } of ticks(yFrom, yTo)) {
    out.push(
      `<line x1="${PLOT.left}" x2="${PLOT.right}" y1="${f(y(value))}" y2="${f(y(value))}" stroke="${major ? "#ccc" : "#eee"}"/>`,
      `<text x="${PLOT.left - 6}" y="${f(y(value) + 4)}" text-anchor="end" fill="#444">${tickLabel(Number(value.toPrecision(3)), "ms")}</text>`,
    );
  }
  out.push(
    `<rect x="${PLOT.left}" y="${PLOT.top}" width="${PLOT.right - PLOT.left}" height="${PLOT.bottom - PLOT.top}" fill="none" stroke="#888"/>`,
    `<text x="${(PLOT.left + PLOT.right) / 2}" y="${PLOT.bottom + 32}" text-anchor="middle">messages (baselines: requests or messages) per second: offered (open loop) or accepted (closed loop)</text>`,
  );
  for (const target of targets) {
    const [cx, cy] = [x(target.rate), y(target.ms)];
    out.push(
      `<path d="M${f(cx - 5)},${f(cy - 5)}L${f(cx + 5)},${f(cy + 5)}M${f(cx - 5)},${f(cy + 5)}L${f(cx + 5)},${f(cy - 5)}" stroke="black" stroke-width="1.5"/>`,
    );
  }
  for (const one of series) {
    const line = (key: "p50" | "p99", dash: string) =>
      one.points.length > 1
        ? `<polyline fill="none" stroke="${one.color}" stroke-width="1.5"${dash} points="${one.points.map((point) => `${f(x(point.rate))},${f(y(point[key]))}`).join(" ")}"/>`
        : "";
    out.push(line("p50", ""), line("p99", ` stroke-dasharray="5 3"`));
    for (const point of one.points) {
      const cx = f(x(point.rate));
      if (one.points.length === 1)
        out.push(`<line x1="${cx}" x2="${cx}" y1="${f(y(point.p50))}" y2="${f(y(point.p99))}" stroke="${one.color}"/>`);
      out.push(
        `<circle cx="${cx}" cy="${f(y(point.p50))}" r="3.5" fill="${one.color}"/>`,
        `<circle cx="${cx}" cy="${f(y(point.p99))}" r="3.5" fill="white" stroke="${one.color}" stroke-width="1.5"/>`,
      );
      if (point.note)
        out.push(
          `<text x="${cx}" y="${f(y(point.p99) - 7)}" text-anchor="middle" font-size="9" fill="${one.color}">${escapeXml(point.note)}</text>`,
        );
    }
  }
  series.forEach((one, index) => {
    const top = PLOT.top + 8 + index * 20;
    out.push(
      `<circle cx="${PLOT.right + 16}" cy="${top}" r="4" fill="${one.color}"/>`,
      `<text x="${PLOT.right + 26}" y="${top + 4}">${escapeXml(one.name)}</text>`,
    );
  });
  if (targets.length > 0) {
    const top = PLOT.top + 8 + series.length * 20;
    out.push(
      `<path d="M${PLOT.right + 12},${top - 4}L${PLOT.right + 20},${top + 4}M${PLOT.right + 12},${top + 4}L${PLOT.right + 20},${top - 4}" stroke="black" stroke-width="1.5"/>`,
      `<text x="${PLOT.right + 26}" y="${top + 4}">p99 targets: 50 ms at 50 %, 100 ms at 70 %</text>`,
    );
  }
  out.push("</svg>", "");
  return out.join("\n");
}
