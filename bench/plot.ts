// bench/latest.svg: wall time against the number of hosts, for the dry run and the no-op re-apply,
// one line per tool (medians). A Vega-Lite spec rendered to SVG by Vega in Node, with no browser
// and no canvas (renderer 'none': Vega measures text by estimate).
import { parse, View } from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { rows, TOOL_LABEL, version } from './report.ts';
import type { BenchResults, ScenarioName, Tool } from './results.ts';

export const PLOTTED: ScenarioName[] = ['dry run, fresh hosts', 'no-op re-apply'];
const LINES: Tool[] = ['mailprov', 'mailprovNpx', 'ansible', 'floor'];
const COLORS: Record<string, string> = {
  [TOOL_LABEL.mailprov]: '#1f5fa8',
  [TOOL_LABEL.mailprovNpx]: '#6aaed6',
  [TOOL_LABEL.ansible]: '#c8372d',
  'floor (ssh host true)': '#7f7f7f',
};

export interface Point {
  scenario: ScenarioName;
  tool: string;
  hosts: number;
  seconds: number;
}

/** The medians the picture shows: one point per scenario, tool and N. */
export function plotPoints(r: BenchResults): Point[] {
  return rows(r)
    .filter((row) => PLOTTED.includes(row.name))
    .flatMap((row) =>
      LINES.map((tool) => ({
        scenario: row.name,
        tool: tool === 'floor' ? 'floor (ssh host true)' : TOOL_LABEL[tool],
        hosts: row.hosts,
        seconds: tool === 'floor' ? row.floor : row.medians[tool],
      })).filter((p): p is Point => p.seconds !== undefined && Number.isFinite(p.seconds)),
    );
}

export function plotSpec(r: BenchResults): TopLevelSpec {
  const points = plotPoints(r);
  const tools = Object.keys(COLORS).filter((t) => points.some((p) => p.tool === t));
  const hosts = [...new Set(points.map((p) => p.hosts))].sort((a, b) => a - b);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Wall time against the number of hosts',
      subtitle: `median of ${r.options.reps} run(s), ${r.machine.cores} cores, ${r.date.slice(0, 10)}, mailprov ${version(r)}`,
    },
    data: { values: points },
    facet: { column: { field: 'scenario', type: 'nominal', title: null, sort: PLOTTED } },
    spec: {
      width: 320,
      height: 240,
      mark: { type: 'line', point: { filled: true, size: 50 } },
      encoding: {
        x: { field: 'hosts', type: 'quantitative', title: 'hosts (N)', axis: { values: hosts, format: 'd' } },
        // log: Ansible's seconds and mailprov's tenths share one picture
        y: { field: 'seconds', type: 'quantitative', title: 'seconds (log scale)', scale: { type: 'log' } },
        color: {
          field: 'tool',
          type: 'nominal',
          title: null,
          scale: { domain: tools, range: tools.map((t) => COLORS[t]) },
          legend: { orient: 'bottom', direction: 'horizontal', labelLimit: 0 },
        },
        strokeDash: {
          field: 'tool',
          type: 'nominal',
          // the same field and domain as the colour: one legend shows both
          scale: { domain: tools, range: tools.map((t) => (t.startsWith('floor') ? [4, 3] : [1, 0])) },
        },
        tooltip: [{ field: 'tool' }, { field: 'hosts' }, { field: 'seconds', format: '.2f' }],
      },
    },
    config: { font: 'Helvetica, Arial, sans-serif', view: { stroke: '#dddddd' } },
  };
}

export async function renderSvg(r: BenchResults): Promise<string> {
  const view = new View(parse(compile(plotSpec(r)).spec), { renderer: 'none' });
  try {
    return `${await view.toSVG()}\n`;
  } finally {
    view.finalize();
  }
}
