import { fireEvent, screen } from '@testing-library/react';
import { renderUi } from '../../test/render';
import type { PlaybackTrack } from '../../api/analytics';
import type { EventPublic } from '../../api/types';
import { EventTimeline, eventLabel } from './EventTimeline';
import { boxesAt, lastAtOrBefore, mapAt } from './overlay';
import { PlaybackOverlay } from './PlaybackOverlay';

const walker: PlaybackTrack = { track_id: 3, frames: [10, 12, 40], xyxy: [[0, 0, 10, 20], [4, 0, 14, 20], [50, 0, 60, 20]] };

function event(id: string, type: string, t: number, zone: string | null = 'aisle'): EventPublic {
  return { id, job_id: 'j', video_id: 'v', camera_id: 'shop.cam', type, rule: 'r', track_id: 3, zone, t_start_s: t, t_end_s: t,
    frame_start: t * 10, frame_end: t * 10, confidence: 0.9, payload: {}, created_at: '2026-03-02T10:00:00Z' };
}

describe('boxes of stored tracks at a frame', () => {
  it.each([
    [9, []], // before the track
    [10, [[0, 0, 10, 20]]], // a stored frame
    [11, [[2, 0, 12, 20]]], // between two analysed frames: interpolated
    [20, []], // inside a 28-frame gap: the person may have been away, nothing is drawn
    [40, [[50, 0, 60, 20]]],
    [41, []], // after the track
  ])('frame %i', (frame, expected) => {
    expect(boxesAt([walker], frame, 2).map((b) => b.xyxy)).toEqual(expected);
  });

  it('finds the last stored frame at or before a frame', () => {
    expect([lastAtOrBefore([], 5), lastAtOrBefore([1, 3, 5], 0), lastAtOrBefore([1, 3, 5], 4), lastAtOrBefore([1, 3, 5], 9)])
      .toEqual([-1, -1, 1, 2]);
  });
});

describe('the playback overlay', () => {
  it('draws the boxes, ids, zones and lines in the video pixels', () => {
    renderUi(<PlaybackOverlay boxes={boxesAt([walker], 11, 2)} resolutionWh={[100, 50]}
      zones={[{ name: 'aisle', kind: 'shelf', polygon: [[0, 0], [0.5, 0], [0.5, 1], [0, 1]] }]}
      lines={[{ name: 'door', start: [0.5, 0.5], end: [1, 0.5] }]} />);
    const overlay = screen.getByTestId('playback-overlay');
    expect(overlay).toHaveAttribute('data-box-count', '1');
    expect(overlay.querySelector('g[data-track-id="3"] rect')).toHaveAttribute('x', '2');
    expect(overlay.querySelector('g[data-zone="aisle"] polygon')).toHaveAttribute('points', '0,0 50,0 50,50 0,50');
    expect(overlay.querySelector('line[data-line="door"]')).toHaveAttribute('x2', '100');
    expect(screen.getByText('#3')).toBeInTheDocument();
  });

  it('hides zones and lines when asked', () => {
    renderUi(<PlaybackOverlay boxes={[]} resolutionWh={[100, 50]} showZones={false}
      zones={[{ name: 'aisle', kind: 'shelf', polygon: [[0, 0], [1, 0], [1, 1]] }]} />);
    expect(screen.getByTestId('playback-overlay').querySelector('[data-zone]')).toBeNull();
    expect(screen.getByRole('img')).toHaveAccessibleName('0 people on this frame');
  });
});

describe('the event timeline', () => {
  it('jumps the video to an event', () => {
    const onSeek = vi.fn();
    renderUi(<EventTimeline events={[event('e1', 'zone_enter', 3.5), event('e2', 'line_cross', 8, 'door')]} durationS={10}
      currentS={0} onSeek={onSeek} />);
    fireEvent.click(screen.getByRole('button', { name: 'Jump to line_cross door #3 at 8.0 s' }));
    expect(onSeek).toHaveBeenCalledWith(8);
    expect(screen.getByRole('button', { name: /Jump to zone_enter aisle/ })).toHaveStyle({ left: '35%' });
  });

  it('says when there is nothing to jump to', () => {
    renderUi(<EventTimeline events={[]} durationS={10} currentS={0} onSeek={() => undefined} />);
    expect(screen.getByText('No events in this video.')).toBeInTheDocument();
    expect(eventLabel(event('x', 'occupancy', 1, null))).toBe('occupancy #3 at 1.0 s');
  });
});

describe('the map replay at a frame', () => {
  const placed: PlaybackTrack = { ...walker, global_id: 'g-1', map_xy: [[1, 1], [2, 1], null] };

  it('interpolates the foot point and keeps a trail of earlier stored points', () => {
    expect(mapAt([placed], 10, 2, 20)).toEqual([{ trackId: 3, globalId: 'g-1', trail: [[1, 1]] }]);
    expect(mapAt([placed], 11, 2, 20)[0].trail).toEqual([[1, 1], [1.5, 1]]);
    expect(mapAt([placed], 12, 2, 1)[0].trail).toEqual([[2, 1]]); // the trail is cut at trailFrames
  });

  it('draws nothing inside a gap, above the horizon or without a calibration', () => {
    expect(mapAt([placed], 20, 2, 20)).toEqual([]);
    expect(mapAt([placed], 40, 2, 20)).toEqual([]); // no floor point at that frame
    expect(mapAt([walker], 10, 2, 20)).toEqual([]);
  });
});
