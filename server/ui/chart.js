// barChart draws one value per day as an SVG bar chart, sized to the
// width it has, with a title for assistive technology and each bar's
// figure as its tooltip. The same figures are in a table next to it.

import {svg} from "./dom.js";

// scale picks the grid's step (1, 2 or 5 times a power of ten, at least
// minStep) and top, for at most four steps up to max.
function scale(max, minStep) {
  let step = minStep;
  if (max > 0) {
    const raw = max / 4, p = 10 ** Math.floor(Math.log10(raw));
    step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  }
  step = Math.max(step, minStep);
  return {step, top: Math.max(step, Math.ceil(max / step - 1e-9) * step)};
}

// days: [{label, short, value}], in order; format writes a value; colour
// is the bars'; minStep is the smallest step of the grid (1 for counts).
export function barChart({title, days, width, format, colour, id, minStep = 0}) {
  width = Math.max(280, Math.round(width));
  const height = 190, left = 52, right = 8, top = 12, bottom = 34;
  const plotW = width - left - right, plotH = height - top - bottom;
  const grid = scale(Math.max(...days.map((d) => d.value)), minStep || 1e-6);
  const max = grid.top;
  const step = plotW / days.length, barW = Math.max(2, step * 0.7);
  const every = Math.ceil(days.length / Math.max(1, Math.floor(plotW / 44))); // labels that fit
  const parts = [svg("title", {id: `${id}-title`}, title)];
  for (let v = 0; v <= max + 1e-9; v += grid.step) {
    const y = top + plotH - (v / max) * plotH;
    parts.push(svg("line", {x1: left, x2: width - right, y1: y, y2: y, class: "grid"}));
    parts.push(svg("text", {x: left - 6, y: y + 4, "text-anchor": "end", class: "axis"}, format(v)));
  }
  days.forEach((d, i) => {
    const hgt = (d.value / max) * plotH;
    const x = left + i * step + (step - barW) / 2;
    parts.push(svg("rect", {x, y: top + plotH - hgt, width: barW, height: Math.max(hgt, d.value > 0 ? 1 : 0), fill: colour},
      svg("title", {}, `${d.label}: ${format(d.value)}`)));
    if ((days.length - 1 - i) % every === 0) { // today always labelled
      parts.push(svg("text", {x: x + barW / 2, y: height - bottom + 16, "text-anchor": "middle", class: "axis"}, d.short));
    }
  });
  return svg("svg", {
    class: "chart", role: "img", "aria-labelledby": `${id}-title`,
    viewBox: `0 0 ${width} ${height}`, width, height,
  }, parts);
}
