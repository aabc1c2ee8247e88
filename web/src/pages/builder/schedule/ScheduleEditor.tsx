// Placeholder with the final interface: replaced by the real schedule editor.
import type { Schemas } from '../../../api/client';

export interface ScheduleEditorProps {
  value: Schemas['Schedule'];
  onChange: (next: Schemas['Schedule']) => void;
}

export function ScheduleEditor({ value }: ScheduleEditorProps) {
  return <pre>{JSON.stringify(value)}</pre>;
}
