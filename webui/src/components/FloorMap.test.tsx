import { fireEvent, screen } from '@testing-library/react';
import type { TrackingUpdate } from '../api/types';
import { colourOf } from '../api/identity';
import { foldUpdate } from '../pages/MapPage';
import { renderUi } from '../test/render';
import { FloorMap, metresFromClick, viewBox } from './FloorMap';

const update = (t: number, tracks: TrackingUpdate['tracks']): TrackingUpdate =>
  ({ kind: 'tracking_update', camera_id: 'shop.a', frame_index: t, t, tracks, person_count: tracks.length });
const track = (id: number, gid: string | null, xy: [number, number] | null) =>
  ({ track_id: id, bbox_xyxy: [0, 0, 1, 1] as [number, number, number, number], confidence: 0.9, keypoints: null, global_id: gid, map_coords: xy });

describe('map geometry', () => {
  it('pads the extent and turns clicks into metres', () => {
    expect(viewBox([0, 0, 10, 20])).toEqual([-0.5, -1, 11, 22]);
    const box = viewBox([0, 0, 10, 10]);
    expect(metresFromClick(150, 100, { left: 100, top: 50, width: 110, height: 110 }, box)).toEqual([4.5, 4.5]);
  });

  it('gives one person one colour everywhere and different people different colours', () => {
    expect(colourOf('a1b2')).toBe(colourOf('a1b2'));
    expect(colourOf('a1b2')).not.toBe(colourOf('ffff'));
  });
});

describe('foldUpdate', () => {
  it('keeps a trail per global id, skips tracks without one or without plan coordinates, forgets the gone', () => {
    const people = new Map();
    foldUpdate(people, update(1, [track(1, 'g1', [1, 1]), track(2, null, [5, 5]), track(3, 'g3', null)]), 1000);
    foldUpdate(people, update(2, [track(1, 'g1', [2, 1])]), 1500);
    expect([...people.keys()]).toEqual(['g1']);
    expect(people.get('g1').trail).toEqual([[1, 1], [2, 1]]);
    foldUpdate(people, update(3, []), 20_000);
    expect(people.size).toBe(0);
    expect(foldUpdate(new Map(), update(4, []), 0).size).toBe(0); // empty input
  });
});

describe('FloorMap', () => {
  it('draws fields of view and people, and selects a person on click', () => {
    const onSelect = vi.fn();
    renderUi(<FloorMap extent={[0, 0, 10, 10]} onSelect={onSelect}
      cameras={[{ camera_id: 'shop.a', friendly_name: 'A', calibrated: true, reprojection_error_m: 0, field_of_view: [[0, 0], [5, 0], [5, 5]], image_points: [], map_points: [] }]}
      people={[{ globalId: 'abcdef123456', trail: [[1, 1], [2, 2]], cameraId: 'shop.a' }]} />);
    expect(screen.getByTestId('floor-map')).toHaveAttribute('aria-label', 'Floor plan with 1 people');
    expect(document.querySelector('[data-fov="shop.a"]')).not.toBeNull();
    const dot = screen.getByRole('button', { name: 'Person abcdef12 on shop.a' });
    expect(dot).toHaveAttribute('cx', '2');
    fireEvent.click(dot);
    expect(onSelect).toHaveBeenCalledWith('abcdef123456');
  });
});
