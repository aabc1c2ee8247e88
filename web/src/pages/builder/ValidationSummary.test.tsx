import { describe, expect, it } from 'vitest';
import { render, screen } from '@testing-library/react';
import { ValidationSummary } from './ValidationSummary';
import type { ValidationState } from './queries';

const state = (s: Partial<ValidationState>): ValidationState => ({ problems: [], checking: false, valid: null, failure: null, ...s });

describe('ValidationSummary', () => {
  it('announces only settled results, politely', () => {
    const problems = [{ field: 'name', message: 'must not be empty' }];
    const { rerender } = render(<ValidationSummary state={state({ valid: false, problems })} problems={problems} />);
    const status = screen.getByRole('status');
    expect(status).toHaveAttribute('aria-live', 'polite');
    expect(status).toHaveTextContent('1 problem');

    // Checking shows on screen, but the live region keeps the last result.
    rerender(<ValidationSummary state={state({ valid: false, problems, checking: true })} problems={problems} />);
    expect(screen.getByTestId('validation-summary')).toHaveTextContent('Checking…');
    expect(screen.getByRole('status')).toHaveTextContent('1 problem');
    expect(screen.getByRole('status')).not.toHaveTextContent('Checking');

    rerender(<ValidationSummary state={state({ valid: true })} problems={[]} />);
    expect(screen.getByRole('status')).toHaveTextContent('The job is valid.');
    expect(screen.queryByRole('alert')).not.toBeInTheDocument();
  });
});
