// Boxes of stored tracks at one frame of a video: the stored (analysed) frames, linearly interpolated
// between two of them when they are at most `maxGap` frames apart (as the exports do), nothing elsewhere.

import type { PlaybackTrack } from '../../api/analytics';

export interface BoxAt {
  trackId: number;
  xyxy: [number, number, number, number];
}

/** The index of the last element of `frames` (increasing) that is <= `frame`, or -1. */
export function lastAtOrBefore(frames: number[], frame: number): number {
  let lo = 0;
  let hi = frames.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (frames[mid] <= frame) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return found;
}

export function boxesAt(tracks: PlaybackTrack[], frame: number, maxGap: number): BoxAt[] {
  const out: BoxAt[] = [];
  for (const t of tracks) {
    const i = lastAtOrBefore(t.frames, frame);
    if (i < 0) continue;
    if (t.frames[i] === frame) {
      out.push({ trackId: t.track_id, xyxy: t.xyxy[i] });
      continue;
    }
    const j = i + 1;
    if (j >= t.frames.length || t.frames[j] - t.frames[i] > maxGap) continue;
    const w = (frame - t.frames[i]) / (t.frames[j] - t.frames[i]);
    const a = t.xyxy[i];
    const b = t.xyxy[j];
    out.push({ trackId: t.track_id, xyxy: [0, 1, 2, 3].map((k) => a[k] + w * (b[k] - a[k])) as BoxAt['xyxy'] });
  }
  return out;
}
