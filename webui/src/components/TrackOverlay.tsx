// Boxes, ids and COCO-17 skeletons of one camera's latest `tracking_update`, drawn over its frame.

import type { KeyboardEvent } from 'react';
import type { TrackMessage } from '../api/types';

/** COCO-17 limbs as keypoint index pairs. */
export const SKELETON: [number, number][] = [
  [5, 7], [7, 9], [6, 8], [8, 10], [5, 6], [5, 11], [6, 12], [11, 12], [11, 13], [13, 15], [12, 14], [14, 16],
  [0, 1], [0, 2], [1, 3], [2, 4], [3, 5], [4, 6],
];
const PALETTE = ['#4dabf7', '#69db7c', '#ffd43b', '#da77f2', '#ff8787', '#63e6be', '#ffa94d', '#748ffc'];
export const MIN_VISIBILITY = 0.3;

export function trackColor(trackId: number): string {
  return PALETTE[Math.abs(trackId) % PALETTE.length];
}

export interface TrackOverlayProps {
  tracks: TrackMessage[];
  /** The coordinate space of the boxes (the camera's pixels): `[width, height]`. */
  resolutionWh: [number, number];
  followed?: number | null;
  onFollow?: (trackId: number) => void;
  showSkeleton?: boolean;
  cameraLabel: string;
}

export function TrackOverlay({ tracks, resolutionWh, followed, onFollow, showSkeleton = true, cameraLabel }: TrackOverlayProps) {
  const [w, h] = resolutionWh;
  const stroke = Math.max(1.5, w / 400);
  const fontSize = Math.max(12, w / 45);
  const key = (trackId: number) => (e: KeyboardEvent) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      onFollow?.(trackId);
    }
  };
  return (
    <svg viewBox={`0 0 ${w} ${h}`} preserveAspectRatio="none" data-testid="track-overlay" data-track-count={tracks.length}
      aria-label={`${cameraLabel}: ${tracks.length} ${tracks.length === 1 ? 'person' : 'people'} tracked`}
      style={{ position: 'absolute', inset: 0, width: '100%', height: '100%' }}>
      {tracks.map((t) => {
        const [x1, y1, x2, y2] = t.bbox_xyxy;
        const color = followed === t.track_id ? '#ff2d55' : trackColor(t.track_id);
        const kp = showSkeleton && t.keypoints ? t.keypoints : null;
        return (
          <g key={t.track_id} className="overlay-box" role="button" tabIndex={0} data-track-id={t.track_id}
            aria-label={`Person ${t.track_id}${t.global_id != null ? ` (global ${t.global_id})` : ''}, confidence ${t.confidence.toFixed(2)}. ${followed === t.track_id ? 'Followed' : 'Follow'}`}
            aria-pressed={followed === t.track_id} onClick={() => onFollow?.(t.track_id)} onKeyDown={key(t.track_id)}>
            <rect x={x1} y={y1} width={Math.max(1, x2 - x1)} height={Math.max(1, y2 - y1)} fill="transparent"
              stroke={color} strokeWidth={followed === t.track_id ? stroke * 2 : stroke} />
            <rect x={x1} y={Math.max(0, y1 - fontSize * 1.3)} width={fontSize * (String(t.track_id).length * 0.65 + 1.2)}
              height={fontSize * 1.3} fill={color} />
            <text x={x1 + fontSize * 0.3} y={Math.max(fontSize, y1 - fontSize * 0.3)} fontSize={fontSize} fill="#000"
              fontWeight={700}>#{t.track_id}</text>
            {kp && SKELETON.map(([a, b]) => {
              const p = kp[a];
              const q = kp[b];
              if (!p || !q || p[2] < MIN_VISIBILITY || q[2] < MIN_VISIBILITY) return null;
              return <line key={`${a}-${b}`} x1={p[0]} y1={p[1]} x2={q[0]} y2={q[1]} stroke={color} strokeWidth={stroke} data-limb="" />;
            })}
            {kp && kp.map((p, i) => p[2] >= MIN_VISIBILITY ? <circle key={i} cx={p[0]} cy={p[1]} r={stroke * 1.4} fill={color} /> : null)}
          </g>
        );
      })}
    </svg>
  );
}
