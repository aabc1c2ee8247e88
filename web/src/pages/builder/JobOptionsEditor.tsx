// Job options: segment override, concurrency, chunk size, timeouts, overlap and catch-up.
// Empty fields leave the server's defaults in place.
import { useTranslation } from 'react-i18next';
import type { FieldProblem, Schemas } from '../../api/client';
import { Field, Input } from '../../components/ui';
import { describedBy } from './describedBy';
import { problemsAt, type JobOptions } from './model';

const NUMBERS = [
  ['concurrency', 1],
  ['chunk_size', 1],
  ['target_timeout_ms', 100],
  ['run_deadline_seconds', 1],
  ['catch_up_seconds', 0],
] as const;

export function JobOptionsEditor({
  value,
  onChange,
  segments,
  problems,
}: {
  value: JobOptions;
  onChange: (next: JobOptions) => void;
  segments: Schemas['Segment'][];
  problems: FieldProblem[];
}) {
  const { t } = useTranslation();
  const error = (key: string) => problemsAt(problems, `options.${key}`).join('; ') || undefined;
  const set = (key: keyof JobOptions, v: unknown) => onChange({ ...value, [key]: v === '' || v === undefined ? undefined : v } as JobOptions);
  return (
    <div className="grid gap-3 md:grid-cols-2 xl:grid-cols-3">
      <Field live={false} id="job-option-segment" label={t('builder.options.segment')} help={t('builder.options.segmentHelp')} error={error('segment')}>
        <select
          id="job-option-segment"
          className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          value={value.segment ?? ''}
          aria-describedby={describedBy('job-option-segment', { help: true, error: error('segment') })}
          aria-invalid={!!error('segment') || undefined}
          onChange={(e) => set('segment', e.target.value || null)}
        >
          <option value="">{t('builder.options.segmentAuto')}</option>
          {segments.map((s) => (
            <option key={s.name} value={s.name}>
              {s.name}
              {s.cidrs?.length ? ` (${s.cidrs.join(', ')})` : ''}
            </option>
          ))}
          {value.segment && !segments.some((s) => s.name === value.segment) && <option value={value.segment}>{value.segment}</option>}
        </select>
      </Field>
      {NUMBERS.map(([key, min]) => (
        <Field live={false} key={key} id={`job-option-${key}`} label={t(`builder.options.${key}`)} help={t(`builder.options.${key}Help`)} error={error(key)}>
          <Input
            id={`job-option-${key}`}
            type="number"
            min={min}
            step={1}
            placeholder={t('builder.options.default')}
            value={(value[key] as number | null | undefined) ?? ''}
            aria-describedby={describedBy(`job-option-${key}`, { help: true, error: error(key) })}
            aria-invalid={!!error(key) || undefined}
            onChange={(e) => set(key, e.target.value === '' ? undefined : Number(e.target.value))}
          />
        </Field>
      ))}
      <Field live={false} id="job-option-overlap" label={t('builder.options.overlap')} help={t('builder.options.overlapHelp')} error={error('overlap')}>
        <select
          id="job-option-overlap"
          className="h-9 rounded-md border border-input bg-background px-2 text-sm"
          value={value.overlap ?? ''}
          aria-describedby={describedBy('job-option-overlap', { help: true, error: error('overlap') })}
          aria-invalid={!!error('overlap') || undefined}
          onChange={(e) => set('overlap', e.target.value || undefined)}
        >
          <option value="">{t('builder.options.default')}</option>
          {(['skip', 'queue', 'allow'] as const).map((o) => (
            <option key={o} value={o}>
              {t(`builder.options.overlap_${o}`)}
            </option>
          ))}
        </select>
      </Field>
    </div>
  );
}
