// The picture: medians of the dry run and the no-op re-apply against N, rendered to SVG by Vega.
import { describe, expect, it } from 'vitest';
import { plotPoints, plotSpec, renderSvg } from '../../../bench/plot.ts';
import { fixtureResults } from './fixture.ts';

describe('bench/latest.svg', () => {
  it('plots each tool at each N, the floor included, for the dry run and the no-op re-apply only', () => {
    const points = plotPoints(fixtureResults());
    expect(points).toHaveLength(2 * 2 * 4);
    expect(new Set(points.map((p) => p.scenario))).toEqual(new Set(['dry run, fresh hosts', 'no-op re-apply']));
    expect(points.filter((p) => p.scenario === 'no-op re-apply' && p.hosts === 10)).toEqual([
      { scenario: 'no-op re-apply', tool: 'mailprov', hosts: 10, seconds: 1 },
      { scenario: 'no-op re-apply', tool: 'npx mailprov', hosts: 10, seconds: 2.4 },
      { scenario: 'no-op re-apply', tool: 'ansible', hosts: 10, seconds: 8 },
      { scenario: 'no-op re-apply', tool: 'floor (ssh host true)', hosts: 10, seconds: 0.4 },
    ]);
  });

  it('leaves out a tool that was not measured, and ticks the x axis at the measured N', () => {
    const r = fixtureResults();
    for (const s of r.scenarios) delete s.samples.mailprovNpx;
    const spec = JSON.stringify(plotSpec(r));
    expect(spec).not.toContain('npx mailprov');
    expect(spec).toContain('"values":[1,10]');
  });

  it('renders the same SVG from the same results, with a legend naming every line', async () => {
    const svg = await renderSvg(fixtureResults());
    expect(svg).toMatch(/^<svg [^>]*width="\d+" height="\d+"/);
    for (const label of ['mailprov', 'npx mailprov', 'ansible', 'floor (ssh host true)', 'dry run, fresh hosts', 'no-op re-apply'])
      expect(svg).toContain(`>${label}</text>`);
    expect(await renderSvg(fixtureResults())).toBe(svg);
  });
});
