import { fireEvent, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { useState } from 'react';
import type { PointNorm } from '../api/types';
import { renderUi } from '../test/render';
import { ZoneEditor, formatPoints, parsePoints, pointFromClick, type DrawMode } from './ZoneEditor';

const RECT = { left: 100, top: 50, width: 800, height: 400, right: 900, bottom: 450, x: 100, y: 50, toJSON: () => ({}) };

function Harness({ mode = 'zone', onChange }: { mode?: DrawMode; onChange: (p: PointNorm[]) => void }) {
  const [points, setPoints] = useState<PointNorm[]>([]);
  return (
    <ZoneEditor imageUrl={null} aspect={2} zones={{ aisle: { kind: 'shelf', polygon: [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]] } }} lines={{}}
      mode={mode} points={points} onPointsChange={(p) => { setPoints(p); onChange(p); }} />
  );
}

function clickAt(x: number, y: number) {
  fireEvent.click(screen.getByTestId('zone-canvas'), { clientX: x, clientY: y });
}

describe('pointFromClick', () => {
  it('normalises to 0–1 of the drawing area, clamped, 4 decimals', () => {
    expect(pointFromClick(500, 250, RECT)).toEqual([0.5, 0.5]);
    expect(pointFromClick(100, 50, RECT)).toEqual([0, 0]);
    expect(pointFromClick(950, 10, RECT)).toEqual([1, 0]);
    expect(pointFromClick(367, 183, RECT)).toEqual([0.3338, 0.3325]);
  });
});

describe('ZoneEditor', () => {
  beforeEach(() => {
    vi.spyOn(SVGElement.prototype, 'getBoundingClientRect').mockReturnValue(RECT as DOMRect);
  });

  it('turns clicks into the polygon the API expects (normalised [x, y] pairs, in order)', () => {
    const onChange = vi.fn();
    renderUi(<Harness onChange={onChange} />);
    clickAt(180, 90);
    clickAt(580, 90);
    clickAt(580, 290);
    expect(onChange).toHaveBeenLastCalledWith([[0.1, 0.1], [0.6, 0.1], [0.6, 0.6]]);
    expect(screen.getByTestId('zone-canvas')).toHaveAttribute('data-points', '3');
    expect(screen.getByLabelText(/Points/)).toHaveValue('0.1, 0.1; 0.6, 0.1; 0.6, 0.6');
    expect(document.querySelector('[data-zone="aisle"]')).not.toBeNull();
  });

  it('keeps two points for a line: a third click starts a new line', () => {
    const onChange = vi.fn();
    renderUi(<Harness mode="line" onChange={onChange} />);
    clickAt(100, 50);
    clickAt(900, 450);
    expect(onChange).toHaveBeenLastCalledWith([[0, 0], [1, 1]]);
    clickAt(500, 250);
    expect(onChange).toHaveBeenLastCalledWith([[0.5, 0.5]]);
  });

  it('undoes the last point and clears', async () => {
    const onChange = vi.fn();
    renderUi(<Harness onChange={onChange} />);
    clickAt(180, 90);
    clickAt(580, 90);
    await userEvent.click(screen.getByRole('button', { name: 'Undo point' }));
    expect(onChange).toHaveBeenLastCalledWith([[0.1, 0.1]]);
    await userEvent.click(screen.getByRole('button', { name: 'Clear' }));
    expect(onChange).toHaveBeenLastCalledWith([]);
  });

  it('accepts typed points (keyboard alternative) and names a bad one', async () => {
    const onChange = vi.fn();
    renderUi(<Harness onChange={onChange} />);
    const input = screen.getByLabelText(/Points/);
    await userEvent.type(input, '0.2, 0.3; 0.8, 0.3; 0.5, 1.2{Enter}');
    expect(await screen.findByText('"0.5, 1.2" is not a point "x, y" with both between 0 and 1')).toBeInTheDocument();
    expect(onChange).not.toHaveBeenCalled();
    await userEvent.clear(input);
    await userEvent.type(input, '0.2, 0.3; 0.8, 0.3; 0.5, 0.9{Enter}');
    expect(onChange).toHaveBeenLastCalledWith([[0.2, 0.3], [0.8, 0.3], [0.5, 0.9]]);
  });
});

describe('parsePoints / formatPoints', () => {
  it('round-trip', () => {
    const pts: PointNorm[] = [[0, 0.5], [1, 0.25]];
    expect(parsePoints(formatPoints(pts))).toEqual(pts);
    expect(() => parsePoints('0.1')).toThrow('"0.1" is not a point');
  });
});
