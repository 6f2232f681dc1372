import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { ApiError } from '../api/client';
import type { ModelStageActions } from '../api/endpoints';
import type { BehaviourModel, ModelStages } from '../api/types';
import { renderUi } from '../test/render';
import { ComparisonTable, LabelCounts, ModelStagePanel } from './ModelStages';

const model: BehaviourModel = { version: 'v0002', dataset_hash: 'abcdef0123456789', code_version: 'git:1234', trained_by: 'ann' };
const stages: ModelStages = {
  stages: { production: 'v0001', staging: 'v0002' },
  history: [{ id: 2, kind: 'behaviour', stage: 'staging', version: 'v0002', previous_version: null, action: 'promote', actor: 'sam', at: '2026-12-01T10:00:00Z' }],
};

function fakeActions(overrides: Partial<ModelStageActions> = {}): ModelStageActions {
  return { promote: vi.fn().mockResolvedValue({}), rollback: vi.fn().mockResolvedValue({}), ...overrides };
}

describe('model stages', () => {
  it('shows lineage and stages, and promotes or rolls back for supervisors', async () => {
    const actions = fakeActions();
    const onChanged = vi.fn();
    renderUi(<ModelStagePanel model={model} stages={stages} canChange actions={actions} onChanged={onChanged} />);
    expect(screen.getByText('staging')).toBeInTheDocument();
    expect(screen.getByText(/trained by ann · code git:1234 · dataset abcdef012345/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Promote v0002 to staging' })).toBeDisabled(); // already there
    await userEvent.click(screen.getByRole('button', { name: 'Promote v0002 to production' }));
    await waitFor(() => expect(actions.promote).toHaveBeenCalledWith('v0002', 'production'));
    await userEvent.click(screen.getByRole('button', { name: 'Roll back production' }));
    await waitFor(() => expect(actions.rollback).toHaveBeenCalledWith('production'));
    expect(onChanged).toHaveBeenCalledTimes(2);
  });

  it('has no buttons for operators and shows a refusal in words', async () => {
    const { unmount } = renderUi(<ModelStagePanel model={model} stages={stages} canChange={false} actions={fakeActions()} onChanged={vi.fn()} />);
    expect(screen.queryByRole('button')).toBeNull();
    unmount();
    const actions = fakeActions({ rollback: vi.fn().mockRejectedValue(new ApiError(409, 'behaviour staging has no earlier version to roll back to')) });
    renderUi(<ModelStagePanel model={model} stages={stages} canChange actions={actions} onChanged={vi.fn()} />);
    await userEvent.click(screen.getByRole('button', { name: 'Roll back staging' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('no earlier version to roll back to');
  });

  it('lists label counts and the comparison with production', () => {
    renderUi(<LabelCounts labels={{ data: [], count: 3, by_class: { normal: 2, concealment: 1 }, by_source: { dismissal: 2, escalation: 1 } }} />);
    expect(screen.getByLabelText('By class')).toHaveTextContent('normal: 2concealment: 1');
    expect(screen.getByLabelText('By source')).toHaveTextContent('dismissal: 2escalation: 1');
    renderUi(<ComparisonTable accuracy={0.9} macroF1={0.8} comparison={{
      baseline_version: 'v0001', baseline: { accuracy: 0.5, macro_f1: 0.3, per_class: { concealment: { recall: 0 } } },
      accuracy_delta: 0.4, macro_f1_delta: 0.5, per_class_delta: { concealment: { precision: 0.5, recall: 1 } } }} />);
    const table = screen.getByRole('table', { name: 'Comparison with v0001' });
    expect(table).toHaveTextContent(/accuracy\s*90\.0\s*%\s*50\.0\s*%\s*\+0\.400/);
    expect(table).toHaveTextContent(/concealment recall\s*1\.00\s*0\.00\s*\+1\.00/);
  });
});
