import { screen, within } from '@testing-library/react';
import { renderUi } from '../test/render';
import { DiscrepancyTable, ScoreBreakdown, discrepancyRows, normaliseComponents } from './ScoreBreakdown';

const COMPONENTS = {
  discrepancy: { value: 0.5, weight: 0.4, contribution: 0.2 },
  concealment: { value: 1.0, weight: 0.3, contribution: 0.3 },
  bypass: { value: 0, weight: 0.2, contribution: 0 },
  duration: { value: 0.4, weight: 0.1, contribution: 0.04 },
};

describe('ScoreBreakdown', () => {
  it('lists every component, largest contribution first, with value, weight and contribution', () => {
    renderUi(<ScoreBreakdown score={0.54} components={COMPONENTS} />);
    const table = screen.getByRole('table', { name: 'Score breakdown' });
    const rows = within(table).getAllByRole('row').slice(1, 5);
    expect(rows.map((r) => r.getAttribute('data-component'))).toEqual(['concealment', 'discrepancy', 'duration', 'bypass']);
    expect(within(rows[0]).getByText('Concealment')).toBeInTheDocument();
    expect(rows[0]).toHaveTextContent('1.000.300.300');
    expect(rows[1]).toHaveTextContent('Unbilled items (discrepancy)0.500.400.200');
    expect(within(table).getByText('0.540')).toBeInTheDocument();
    expect(screen.getByLabelText('Concealment: 56 % of the score')).toBeInTheDocument();
  });

  it('accepts bare numbers and [value, weight, contribution] triples', () => {
    expect(normaliseComponents({ a: 0.3, b: [0.5, 0.2, 0.1], c: 'junk' })).toEqual([
      ['a', { value: 0.3, weight: 1, contribution: 0.3 }],
      ['b', { value: 0.5, weight: 0.2, contribution: 0.1 }],
    ]);
  });

  it('says so when nothing was recorded', () => {
    renderUi(<ScoreBreakdown score={0} components={{}} />);
    expect(screen.getByText('No score components were recorded.')).toBeInTheDocument();
  });
});

describe('DiscrepancyTable', () => {
  const report = {
    picked: { CHOC001: 2, ENRG001: 1 },
    billed: { CHOC001: 1, GUM001: 1 },
    missing_from_billing: { CHOC001: 1, ENRG001: 1 },
    extra_in_billing: { GUM001: 1 },
    match_rate: 1 / 3,
    transaction_ids: ['t-9'],
  };

  it('has one row per SKU with picked, billed, not billed and billed-not-seen units', () => {
    renderUi(<DiscrepancyTable report={report} />);
    const table = screen.getByRole('table', { name: 'Picked up versus billed' });
    const rows = within(table).getAllByRole('row').slice(1);
    expect(rows.map((r) => r.getAttribute('data-sku'))).toEqual(['CHOC001', 'ENRG001', 'GUM001']);
    expect(rows[0]).toHaveTextContent(/^CHOC001\s*2\s*1\s*1\s*0$/);
    expect(rows[1]).toHaveTextContent(/^ENRG001\s*1\s*0\s*1\s*0$/);
    expect(rows[2]).toHaveTextContent(/^GUM001\s*0\s*1\s*0\s*1$/);
    expect(table).toHaveTextContent('Match rate 33 % · transactions t-9');
  });

  it('derives missing and extra units when the report leaves them out', () => {
    expect(discrepancyRows({ picked: { A: 3 }, billed: { A: 1, B: 2 } })).toEqual([
      { sku: 'A', picked: 3, billed: 1, missing: 2, extra: 0 },
      { sku: 'B', picked: 0, billed: 2, missing: 0, extra: 2 },
    ]);
  });

  it('explains an alert without a POS comparison', () => {
    renderUi(<DiscrepancyTable report={undefined} />);
    expect(screen.getByText('No point-of-sale comparison for this alert.')).toBeInTheDocument();
  });
});
