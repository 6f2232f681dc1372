// Stored tracks, zones and lines over the video frame on screen (SVG in the video's pixel space).

import type { PlaybackInfo } from '../../api/analytics';
import { trackColor } from '../TrackOverlay';
import type { BoxAt } from './overlay';

export interface PlaybackOverlayProps {
  boxes: BoxAt[];
  resolutionWh: [number, number];
  zones?: PlaybackInfo['zones'];
  lines?: PlaybackInfo['lines'];
  showZones?: boolean;
}

export function PlaybackOverlay({ boxes, resolutionWh, zones = [], lines = [], showZones = true }: PlaybackOverlayProps) {
  const [w, h] = resolutionWh;
  const stroke = Math.max(1.5, w / 400);
  const font = Math.max(12, w / 45);
  return (
    <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" data-testid="playback-overlay" data-box-count={boxes.length}
      aria-label={`${boxes.length} ${boxes.length === 1 ? 'person' : 'people'} on this frame`} role="img"
      style={{ position: 'absolute', inset: 0, width: '100%', height: '100%', pointerEvents: 'none' }}>
      {showZones && zones.map((z) => (
        <g key={z.name} data-zone={z.name}>
          <polygon points={z.polygon.map(([x, y]) => `${x * w},${y * h}`).join(' ')} fill="rgba(255, 212, 0, 0.12)"
            stroke="#ffd400" strokeWidth={stroke} />
          <text x={Math.min(...z.polygon.map((p) => p[0])) * w + 4} y={Math.min(...z.polygon.map((p) => p[1])) * h + font}
            fontSize={font} fill="#ffd400">{z.name}</text>
        </g>
      ))}
      {showZones && lines.map((l) => (
        <line key={l.name} data-line={l.name} x1={l.start[0] * w} y1={l.start[1] * h} x2={l.end[0] * w} y2={l.end[1] * h}
          stroke="#ff40ff" strokeWidth={stroke * 1.5} />
      ))}
      {boxes.map((b) => {
        const [x1, y1, x2, y2] = b.xyxy;
        const color = trackColor(b.trackId);
        return (
          <g key={b.trackId} data-track-id={b.trackId}>
            <rect x={x1} y={y1} width={Math.max(1, x2 - x1)} height={Math.max(1, y2 - y1)} fill="transparent" stroke={color}
              strokeWidth={stroke} />
            <text x={x1 + 2} y={Math.max(font, y1 - 3)} fontSize={font} fill={color} fontWeight={700}>#{b.trackId}</text>
          </g>
        );
      })}
    </svg>
  );
}
