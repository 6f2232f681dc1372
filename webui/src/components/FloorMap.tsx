import type { MouseEvent } from 'react';
import { colourOf, type CameraView } from '../api/identity';

export interface MapPerson {
  globalId: string;
  trail: [number, number][]; // oldest first, metres
  cameraId: string;
}

export interface FloorMapProps {
  extent: [number, number, number, number]; // [min_x, min_y, max_x, max_y] m
  cameras: CameraView[];
  people: MapPerson[];
  selected?: string | null;
  onSelect?: (globalId: string) => void;
  onPick?: (xy: [number, number]) => void; // a click on the plan, in metres (calibration editing)
  marks?: [number, number][]; // numbered points on the plan (calibration pairs)
  imageUrl?: string | null;
  metresPerPixel?: number | null;
  height?: number;
}

const PAD = 0.05; // of the extent, on every side

/** The view box of an extent, padded: `[x, y, w, h]` in metres. */
export function viewBox(extent: [number, number, number, number]): [number, number, number, number] {
  const [x0, y0, x1, y1] = extent;
  const w = Math.max(x1 - x0, 1);
  const h = Math.max(y1 - y0, 1);
  return [x0 - PAD * w, y0 - PAD * h, w * (1 + 2 * PAD), h * (1 + 2 * PAD)];
}

/** A click on the drawing area → plan metres (2 decimals). */
export function metresFromClick(clientX: number, clientY: number, rect: { left: number; top: number; width: number; height: number },
  box: [number, number, number, number]): [number, number] {
  const x = box[0] + ((clientX - rect.left) / rect.width) * box[2];
  const y = box[1] + ((clientY - rect.top) / rect.height) * box[3];
  return [Math.round(x * 100) / 100, Math.round(y * 100) / 100];
}

/** The floor plan (metres, y down): a grid or the plan picture, the cameras' fields of view, people with trails. */
export function FloorMap({ extent, cameras, people, selected, onSelect, onPick, marks, imageUrl, metresPerPixel, height = 480 }: FloorMapProps) {
  const box = viewBox(extent);
  const step = box[2] > 60 ? 10 : box[2] > 15 ? 5 : 1;
  const lines: number[] = [];
  for (let v = Math.ceil(box[0] / step) * step; v <= box[0] + box[2]; v += step) lines.push(v);
  const rows: number[] = [];
  for (let v = Math.ceil(box[1] / step) * step; v <= box[1] + box[3]; v += step) rows.push(v);
  const stroke = box[2] / 400;
  const click = (e: MouseEvent<SVGSVGElement>) => {
    if (!onPick) return;
    onPick(metresFromClick(e.clientX, e.clientY, e.currentTarget.getBoundingClientRect(), box));
  };
  return (
    <svg data-testid="floor-map" role="img" aria-label={`Floor plan with ${people.length} people`} viewBox={box.join(' ')}
      preserveAspectRatio="xMidYMid meet" style={{ width: '100%', height, background: 'var(--mantine-color-body)', cursor: onPick ? 'crosshair' : 'default' }}
      onClick={click}>
      {imageUrl && metresPerPixel ? <image href={imageUrl} x={0} y={0} style={{ opacity: 0.6 }} transform={`scale(${metresPerPixel})`} /> : null}
      <g stroke="currentColor" strokeOpacity={0.15} strokeWidth={stroke}>
        {lines.map((x) => <line key={`x${x}`} x1={x} y1={box[1]} x2={x} y2={box[1] + box[3]} />)}
        {rows.map((y) => <line key={`y${y}`} x1={box[0]} y1={y} x2={box[0] + box[2]} y2={y} />)}
      </g>
      {cameras.filter((c) => c.field_of_view.length > 2).map((c) => (
        <polygon key={c.camera_id} data-fov={c.camera_id} points={c.field_of_view.map((p) => p.join(',')).join(' ')}
          fill="steelblue" fillOpacity={0.08} stroke="steelblue" strokeOpacity={0.6} strokeWidth={stroke * 1.5}>
          <title>{`Field of view of ${c.friendly_name ?? c.camera_id}`}</title>
        </polygon>
      ))}
      {people.map((p) => {
        const colour = colourOf(p.globalId);
        const last = p.trail[p.trail.length - 1];
        if (!last) return null;
        const r = box[2] / 90;
        return (
          <g key={p.globalId} data-person={p.globalId}>
            {p.trail.length > 1 && <polyline points={p.trail.map((q) => q.join(',')).join(' ')} fill="none" stroke={colour}
              strokeWidth={stroke * 2} strokeOpacity={0.7} />}
            <circle cx={last[0]} cy={last[1]} r={selected === p.globalId ? r * 1.6 : r} fill={colour}
              stroke={selected === p.globalId ? 'white' : 'none'} strokeWidth={stroke * 2} role="button" tabIndex={0}
              aria-label={`Person ${p.globalId.slice(0, 8)} on ${p.cameraId}`} style={{ cursor: 'pointer' }}
              onClick={(e) => { e.stopPropagation(); onSelect?.(p.globalId); }}
              onKeyDown={(e) => { if (e.key === 'Enter' || e.key === ' ') onSelect?.(p.globalId); }} />
          </g>
        );
      })}
      {(marks ?? []).map((m, i) => (
        <g key={`m${i}`} data-mark={i}>
          <circle cx={m[0]} cy={m[1]} r={box[2] / 120} fill="orange" />
          <text x={m[0] + box[2] / 100} y={m[1]} fontSize={box[2] / 40} fill="orange">{i + 1}</text>
        </g>
      ))}
    </svg>
  );
}
