// Draw a zone (polygon) or a counting line on a camera snapshot. Points are normalised to 0–1 of
// the frame's width and height, as the API stores them (`ZoneConfig.polygon`, `LineConfig.start/end`).

import { useState, type MouseEvent } from 'react';
import { Button, Group, Stack, Text, TextInput } from '@mantine/core';
import type { LineConfig, PointNorm, ZoneConfig } from '../api/types';

export type DrawMode = 'zone' | 'line';

/** The normalised `[x, y]` (0–1, 4 decimals) of a click at `(clientX, clientY)` inside `rect`. */
export function pointFromClick(clientX: number, clientY: number, rect: { left: number; top: number; width: number; height: number }): PointNorm {
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  return [round(clamp((clientX - rect.left) / rect.width)), round(clamp((clientY - rect.top) / rect.height))];
}

/** `"x,y; x,y; …"` → points (throws with the offending item when one is not two numbers in 0–1). */
export function parsePoints(text: string): PointNorm[] {
  return text.split(';').map((s) => s.trim()).filter(Boolean).map((item) => {
    const parts = item.split(',').map((p) => Number(p.trim()));
    if (parts.length !== 2 || parts.some((v) => Number.isNaN(v) || v < 0 || v > 1)) {
      throw new Error(`"${item}" is not a point "x, y" with both between 0 and 1`);
    }
    return [parts[0], parts[1]] as PointNorm;
  });
}

export function formatPoints(points: PointNorm[]): string {
  return points.map(([x, y]) => `${x}, ${y}`).join('; ');
}

const KIND_COLOR: Record<string, string> = {
  shelf: '#4dabf7', checkout: '#69db7c', exit: '#ff8787', restricted: '#f03e3e', queue: '#ffd43b', generic: '#da77f2',
};

export interface ZoneEditorProps {
  imageUrl: string | null;
  /** Frame width / height, for the drawing area's shape. */
  aspect: number;
  zones: Record<string, ZoneConfig>;
  lines: Record<string, LineConfig>;
  mode: DrawMode;
  points: PointNorm[];
  onPointsChange: (points: PointNorm[]) => void;
}

export function ZoneEditor({ imageUrl, aspect, zones, lines, mode, points, onPointsChange }: ZoneEditorProps) {
  const [text, setText] = useState<string | null>(null);
  const [textError, setTextError] = useState<string | null>(null);
  const max = mode === 'line' ? 2 : Infinity;

  function click(e: MouseEvent<SVGSVGElement>) {
    const p = pointFromClick(e.clientX, e.clientY, e.currentTarget.getBoundingClientRect());
    onPointsChange(points.length >= max ? [p] : [...points, p]);
    setText(null);
  }

  function applyText() {
    try {
      const parsed = parsePoints(text ?? '');
      onPointsChange(parsed.slice(0, max === Infinity ? undefined : max));
      setTextError(null);
      setText(null);
    } catch (err) {
      setTextError((err as Error).message);
    }
  }

  const poly = (pts: PointNorm[]) => pts.map(([x, y]) => `${x},${y}`).join(' ');
  return (
    <Stack gap="xs">
      <div style={{ position: 'relative', width: '100%', aspectRatio: String(aspect), background: '#222', borderRadius: 6, overflow: 'hidden' }}>
        {imageUrl && <img src={imageUrl} alt="Camera snapshot" style={{ position: 'absolute', inset: 0, width: '100%', height: '100%', objectFit: 'fill' }} />}
        <svg viewBox="0 0 1 1" preserveAspectRatio="none" className="zone-canvas" onClick={click} data-testid="zone-canvas"
          data-points={points.length} role="img" aria-label={`Drawing area: click to add ${mode === 'zone' ? 'polygon' : 'line'} points (${points.length} so far)`}
          style={{ position: 'absolute', inset: 0, width: '100%', height: '100%' }}>
          {Object.entries(zones).map(([name, z]) => (
            <polygon key={name} points={poly(z.polygon)} fill={KIND_COLOR[z.kind] ?? '#999'} fillOpacity={0.2}
              stroke={KIND_COLOR[z.kind] ?? '#999'} strokeWidth={2} vectorEffect="non-scaling-stroke" data-zone={name} />
          ))}
          {Object.entries(lines).map(([name, l]) => (
            <line key={name} x1={l.start[0]} y1={l.start[1]} x2={l.end[0]} y2={l.end[1]} stroke="#ffa94d" strokeWidth={3}
              vectorEffect="non-scaling-stroke" data-line={name} />
          ))}
          {mode === 'zone' && points.length > 1 && (
            <polygon points={poly(points)} fill="#fff" fillOpacity={0.15} stroke="#fff" strokeDasharray="6 4" strokeWidth={2} vectorEffect="non-scaling-stroke" />
          )}
          {mode === 'line' && points.length === 2 && (
            <line x1={points[0][0]} y1={points[0][1]} x2={points[1][0]} y2={points[1][1]} stroke="#fff" strokeWidth={3} vectorEffect="non-scaling-stroke" />
          )}
          {points.map(([x, y], i) => (
            <ellipse key={i} cx={x} cy={y} rx={0.008} ry={0.008 * aspect} fill={i === 0 ? '#ff2d55' : '#fff'} />
          ))}
        </svg>
      </div>
      <Group align="flex-end" wrap="nowrap">
        <TextInput style={{ flex: 1 }} label="Points (x, y as fractions 0–1, separated by ;)" value={text ?? formatPoints(points)}
          onChange={(e) => setText(e.currentTarget.value)} error={textError} onKeyDown={(e) => { if (e.key === 'Enter') { e.preventDefault(); applyText(); } }} />
        <Button variant="default" onClick={applyText} disabled={text === null}>Use these points</Button>
        <Button variant="default" onClick={() => onPointsChange(points.slice(0, -1))} disabled={!points.length}>Undo point</Button>
        <Button variant="default" onClick={() => onPointsChange([])} disabled={!points.length}>Clear</Button>
      </Group>
      <Text size="xs" c="dimmed">
        {mode === 'zone' ? 'Click at least three corners in order; the shape closes by itself.' : 'Click the start, then the end: crossing from its left to its right (looking from start to end) counts as "in".'}
      </Text>
    </Stack>
  );
}
