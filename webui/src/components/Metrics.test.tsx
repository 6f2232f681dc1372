import { screen, within } from '@testing-library/react';
import { renderUi } from '../test/render';
import { ConfusionMatrix, importanceRows } from './Metrics';

describe('training metrics', () => {
  it('draws the confusion matrix with true classes as rows and predicted as columns', () => {
    renderUi(<ConfusionMatrix labels={['normal', 'pickup', 'concealment']} matrix={[[8, 1, 0], [2, 5, 1], [0, 0, 3]]} />);
    const table = screen.getByRole('table', { name: /Confusion matrix/ });
    const rows = within(table).getAllByRole('row');
    expect(rows[0]).toHaveTextContent(/true \\ predicted\s*normal\s*pickup\s*concealment/);
    expect(rows[2]).toHaveTextContent(/^pickup\s*2\s*5\s*1$/);
    expect(rows[3]).toHaveTextContent(/^concealment\s*0\s*0\s*3$/);
  });

  it('orders feature importance largest first, from a map or a list', () => {
    expect(importanceRows({ wrist_speed: 0.1, hip_height: 0.5, torso_lean: 0.2 }).map((r) => r.feature))
      .toEqual(['hip_height', 'torso_lean', 'wrist_speed']);
    expect(importanceRows([{ feature: 'a', importance: 0.1 }, { feature: 'b', importance: 0.9 }])[0].feature).toBe('b');
    expect(importanceRows(undefined)).toEqual([]);
  });
});
