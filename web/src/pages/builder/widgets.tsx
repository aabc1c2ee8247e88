// Widgets for the generated parameter forms, beside rjsf's shadcn theme. Each renders a
// native control whose id is rjsf's field id, so the template's <label for> names it and the
// help and error texts describe it (aria-describedby).
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Plus, Trash2 } from 'lucide-react';
import {
  ariaDescribedByIds,
  errorId,
  type DescriptionFieldProps,
  type FieldProps,
  type ObjectFieldTemplateProps,
  type WidgetProps,
} from '@rjsf/utils';
import { Button, Input } from '../../components/ui';
import { cn } from '../../lib/cn';
import type { Schemas } from '../../api/client';

const CONTROL =
  'w-full rounded-md border border-input bg-background px-3 text-sm placeholder:text-muted-foreground aria-[invalid=true]:border-destructive';

function invalid(rawErrors?: string[]) {
  return rawErrors && rawErrors.length > 0 ? true : undefined;
}

/** A native <select>: its accessible name is the field's label, not its value. */
export function SelectWidget({
  id,
  value,
  options,
  required,
  disabled,
  readonly,
  onChange,
  onBlur,
  onFocus,
  rawErrors,
  schema,
}: WidgetProps) {
  const { t } = useTranslation();
  const enumOptions = (options.enumOptions ?? []) as { value: unknown; label: string }[];
  const index = enumOptions.findIndex((o) => o.value === value);
  const hasDefault = schema.default !== undefined;
  return (
    <select
      id={id}
      name={id}
      className={cn(CONTROL, 'h-9')}
      value={index >= 0 ? String(index) : ''}
      required={required}
      disabled={disabled || readonly}
      aria-invalid={invalid(rawErrors)}
      aria-describedby={ariaDescribedByIds(id)}
      onChange={(e) => onChange(e.target.value === '' ? undefined : enumOptions[Number(e.target.value)]?.value)}
      onBlur={() => onBlur(id, value)}
      onFocus={() => onFocus(id, value)}
    >
      {(!required || index < 0) && !hasDefault && <option value="">{t('builder.form.unset')}</option>}
      {enumOptions.map((option, i) => (
        <option key={i} value={String(i)}>
          {option.label}
        </option>
      ))}
    </select>
  );
}

/** Human form of a duration in milliseconds (`1500` → `1.5 s`). */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '';
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(2)} s`;
  if (ms < 3_600_000) return `${+(ms / 60_000).toFixed(2)} min`;
  return `${+(ms / 3_600_000).toFixed(2)} h`;
}

/** Milliseconds as a number field, with the value read back as a duration. */
export function DurationWidget({ id, value, required, disabled, readonly, onChange, onBlur, onFocus, rawErrors, schema, placeholder }: WidgetProps) {
  const { t } = useTranslation();
  return (
    <div className="flex items-center gap-2">
      <Input
        id={id}
        name={id}
        type="number"
        inputMode="numeric"
        className="max-w-48"
        min={schema.minimum as number | undefined}
        max={schema.maximum as number | undefined}
        step={1}
        placeholder={placeholder}
        value={value ?? ''}
        required={required}
        disabled={disabled}
        readOnly={readonly}
        aria-invalid={invalid(rawErrors)}
        aria-describedby={`${ariaDescribedByIds(id)} ${id}__unit`}
        onChange={(e) => onChange(e.target.value === '' ? undefined : Number(e.target.value))}
        onBlur={(e) => onBlur(id, e.target.value)}
        onFocus={(e) => onFocus(id, e.target.value)}
      />
      <span id={`${id}__unit`} className="text-sm text-muted-foreground">
        {typeof value === 'number' ? t('builder.form.durationIs', { value: formatMs(value) }) : t('builder.form.ms')}
      </span>
    </div>
  );
}

function parseList(text: string, itemType: string | undefined): unknown[] | undefined {
  const parts = text
    .split(itemType === 'integer' || itemType === 'number' ? /[\s,;]+/ : /\n|,/)
    .map((s) => s.trim())
    .filter(Boolean);
  if (parts.length === 0) return undefined;
  if (itemType === 'integer' || itemType === 'number') {
    return parts.map((p) => (p !== '' && !Number.isNaN(Number(p)) ? Number(p) : p));
  }
  return parts;
}

/**
 * A list of scalars typed as text: one per line (`oid` hint, a textarea) or separated by
 * commas (everything else).
 */
export function ListWidget({ id, value, required, disabled, readonly, onChange, onBlur, onFocus, rawErrors, schema, options, placeholder }: WidgetProps) {
  const items = (schema.items ?? {}) as { type?: string };
  const multiline = options.lines === true;
  const join = (v: unknown) => (Array.isArray(v) ? v.join(multiline ? '\n' : ', ') : '');
  const [text, setText] = useState(() => join(value));
  useEffect(() => {
    // Follow outside changes (a template loaded) without reformatting what is being typed.
    setText((current) => (JSON.stringify(parseList(current, items.type)) === JSON.stringify(value ?? undefined) ? current : join(value)));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [value]);
  const common = {
    id,
    name: id,
    value: text,
    required,
    disabled,
    readOnly: readonly,
    placeholder,
    'aria-invalid': invalid(rawErrors),
    'aria-describedby': ariaDescribedByIds(id),
    onBlur: () => onBlur(id, value),
    onFocus: () => onFocus(id, value),
  };
  const change = (next: string) => {
    setText(next);
    onChange(parseList(next, items.type));
  };
  return multiline ? (
    <textarea {...common} rows={3} className={cn(CONTROL, 'py-2 font-mono')} onChange={(e) => change(e.target.value)} />
  ) : (
    <Input {...common} onChange={(e) => change(e.target.value)} />
  );
}

/** A stored-credential picker (the `credential` hint), from the credentials in the form context. */
export function CredentialWidget({ id, value, required, disabled, readonly, onChange, rawErrors, formContext }: WidgetProps) {
  const { t } = useTranslation();
  const credentials = ((formContext as { credentials?: Schemas['CredentialView'][] } | undefined)?.credentials ?? []);
  return (
    <select
      id={id}
      className={cn(CONTROL, 'h-9')}
      value={typeof value === 'string' ? value : ''}
      required={required}
      disabled={disabled || readonly}
      aria-invalid={invalid(rawErrors)}
      aria-describedby={ariaDescribedByIds(id)}
      onChange={(e) => onChange(e.target.value || undefined)}
    >
      <option value="">{t('builder.form.unset')}</option>
      {credentials.map((c) => (
        <option key={c.id} value={c.id}>
          {c.name}
        </option>
      ))}
    </select>
  );
}

/** Name → value pairs (the `headers` hint, or any object of strings). */
export function HeadersField({ formData, onChange, fieldPathId, schema, disabled, readonly, rawErrors, errorSchema }: FieldProps) {
  const { t } = useTranslation();
  const id = fieldPathId.$id;
  const toRows = (data: unknown) => Object.entries((data ?? {}) as Record<string, string>).map(([k, v]) => ({ k, v: String(v) }));
  const [rows, setRows] = useState(() => toRows(formData));
  useEffect(() => {
    const current = Object.fromEntries(rows.filter((r) => r.k).map((r) => [r.k, r.v]));
    if (JSON.stringify(current) !== JSON.stringify(formData ?? {})) setRows(toRows(formData));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [formData]);
  const commit = (next: { k: string; v: string }[]) => {
    setRows(next);
    const object = Object.fromEntries(next.filter((r) => r.k.trim()).map((r) => [r.k.trim(), r.v]));
    onChange(Object.keys(object).length > 0 ? object : undefined, fieldPathId.path);
  };
  const errors = [...(rawErrors ?? []), ...(((errorSchema as { __errors?: string[] } | undefined)?.__errors) ?? [])];
  const label = (schema.title as string | undefined) ?? fieldPathId.path.at(-1);
  return (
    <fieldset id={id} className="flex flex-col gap-2" aria-describedby={errors.length ? errorId(id) : undefined}>
      <legend className="text-sm font-medium">{label}</legend>
      {schema.description && <p className="text-xs text-muted-foreground">{schema.description as string}</p>}
      {rows.length === 0 && <p className="text-xs text-muted-foreground">{t('builder.form.noHeaders')}</p>}
      {rows.map((row, i) => (
        <div key={i} className="flex items-center gap-2">
          <Input
            aria-label={t('builder.form.headerName', { n: i + 1 })}
            placeholder={t('builder.form.headerNamePlaceholder')}
            value={row.k}
            disabled={disabled || readonly}
            onChange={(e) => commit(rows.map((r, j) => (j === i ? { ...r, k: e.target.value } : r)))}
          />
          <Input
            aria-label={t('builder.form.headerValue', { n: i + 1 })}
            value={row.v}
            disabled={disabled || readonly}
            onChange={(e) => commit(rows.map((r, j) => (j === i ? { ...r, v: e.target.value } : r)))}
          />
          <Button
            variant="ghost"
            size="sm"
            aria-label={t('builder.form.removeHeader', { n: i + 1 })}
            disabled={disabled || readonly}
            onClick={() => commit(rows.filter((_, j) => j !== i))}
          >
            <Trash2 className="size-4" aria-hidden="true" />
          </Button>
        </div>
      ))}
      <div>
        <Button size="sm" disabled={disabled || readonly} onClick={() => setRows([...rows, { k: '', v: '' }])}>
          <Plus className="size-4" aria-hidden="true" />
          {t('builder.form.addHeader')}
        </Button>
      </div>
      {errors.length > 0 && (
        <div id={errorId(id)} className="text-xs text-destructive">
          {errors.map((e, i) => (
            <p key={i}>{e}</p>
          ))}
        </div>
      )}
    </fieldset>
  );
}

/** The top-level object: ordinary params first, the `advanced` ones behind a disclosure. */
export function ParamsObjectTemplate({ properties, uiSchema, fieldPathId, description, title, errorSchema }: ObjectFieldTemplateProps) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  const isRoot = fieldPathId.path.length === 0;
  const isAdvanced = (name: string) =>
    isRoot && !!((uiSchema?.[name] as Record<string, unknown> | undefined)?.['ui:options'] as { advanced?: boolean } | undefined)?.advanced;
  const basic = properties.filter((p) => !isAdvanced(p.name));
  const advanced = properties.filter((p) => isAdvanced(p.name));
  const errors = (errorSchema ?? {}) as Record<string, unknown>;
  const advancedHasErrors = advanced.some((p) => errors[p.name] !== undefined);
  const render = (list: typeof properties) =>
    list.map((p) => (
      <div key={p.name} className={p.hidden ? 'hidden' : undefined}>
        {p.content}
      </div>
    ));
  return (
    <div className="flex flex-col gap-3">
      {!isRoot && title && <p className="text-sm font-medium">{title}</p>}
      {!isRoot && description}
      {basic.length === 0 && advanced.length === 0 && (
        <p className="text-sm text-muted-foreground">{t('builder.form.noParams')}</p>
      )}
      <div className="grid gap-3 md:grid-cols-2">{render(basic)}</div>
      {advanced.length > 0 && (
        <details
          className="rounded-md border border-border p-3"
          open={open || advancedHasErrors}
          onToggle={(e) => setOpen(e.currentTarget.open)}
        >
          <summary className="cursor-pointer text-sm font-medium">
            {t('builder.form.advanced', { count: advanced.length })}
          </summary>
          <div className="mt-3 grid gap-3 md:grid-cols-2">{render(advanced)}</div>
        </details>
      )}
    </div>
  );
}

/** A field's schema description, as quiet as its help text. */
export function ParamDescription({ id, description }: DescriptionFieldProps) {
  if (!description) return null;
  return (
    <span id={id} className="text-xs text-muted-foreground">
      {description}
    </span>
  );
}
