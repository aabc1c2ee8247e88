// Placeholder with the final interface: replaced by the real target picker.
import type { Schemas } from '../../../api/client';

export interface TargetPickerProps {
  value: Schemas['TargetSpec'];
  onChange: (next: Schemas['TargetSpec']) => void;
  /** The job's segment override, if any (routes every target to that segment). */
  segment?: string | null;
}

export function TargetPicker({ value }: TargetPickerProps) {
  return <pre>{JSON.stringify(value)}</pre>;
}
