// A heatmap grid (person-seconds per cell) drawn as SVG cells, coloured blue → red by share of the hottest cell.

import type { HeatmapGrid as Grid } from '../../api/analytics';

/** The colour of a cell holding `value` of `max` person-seconds (`transparent` for an empty cell). */
export function heatColor(value: number, max: number): string {
  if (!(max > 0) || value <= 0) return 'transparent';
  const x = Math.min(1, value / max);
  const hue = Math.round(240 * (1 - x)); // 240 = blue (cold) … 0 = red (hot)
  return `hsla(${hue}, 90%, 50%, ${0.35 + 0.55 * x})`;
}

export function HeatmapGrid({ grid }: { grid: Grid }) {
  const cells: { x: number; y: number; v: number }[] = [];
  grid.cells.forEach((row, y) => row.forEach((v, x) => {
    if (v > 0) cells.push({ x, y, v });
  }));
  const unit = grid.unit === 'm' ? 'm' : 'px';
  return (
    <svg viewBox={`0 0 ${grid.grid_w} ${grid.grid_h}`} preserveAspectRatio="none" data-testid="heatmap-grid"
      data-hot-cells={cells.length} role="img"
      aria-label={`Heatmap of ${grid.camera_id}: ${cells.length} occupied cells of ${grid.cell_w.toFixed(0)}×${grid.cell_h.toFixed(0)} ${unit}, ${grid.total_person_s.toFixed(0)} person-seconds`}
      style={{ width: '100%', aspectRatio: grid.resolution_wh ? `${grid.resolution_wh[0]} / ${grid.resolution_wh[1]}` : '4 / 3', background: '#111', borderRadius: 6 }}>
      {cells.map((c) => <rect key={`${c.x}-${c.y}`} x={c.x} y={c.y} width={1} height={1} fill={heatColor(c.v, grid.max)} />)}
    </svg>
  );
}
