// The parameter form of one action, generated from its command's JSON Schema by rjsf (shadcn
// theme, ajv 8): the library's UI hints pick widgets, order, help, placeholders and the
// "advanced" disclosure; ajv checks as you type and the server's problems for these params
// (live validation) are shown on their fields too, unless ajv already flags that field.
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import Form from '@rjsf/shadcn';
import validator from '@rjsf/validator-ajv8';
import type { RJSFSchema, UiSchema, RegistryWidgetsType, RegistryFieldsType, TemplatesType } from '@rjsf/utils';
import type { FieldProblem, Schemas } from '../../api/client';
import {
  commandDefaults,
  paramErrorTree,
  sparseParams,
  type ErrorTree,
  type JsonSchema,
  type LibraryCommand,
} from './model';
import { CredentialWidget, DurationWidget, HeadersField, ListWidget, ParamDescription, ParamsObjectTemplate, SelectWidget } from './widgets';

const widgets: RegistryWidgetsType = {
  SelectWidget,
  select: SelectWidget,
  duration: DurationWidget,
  list: ListWidget,
  credential: CredentialWidget,
};
const fields: RegistryFieldsType = { headers: HeadersField };
const templates: Partial<TemplatesType> = { ObjectFieldTemplate: ParamsObjectTemplate, DescriptionFieldTemplate: ParamDescription };

function isScalarArray(prop: JsonSchema): boolean {
  const items = prop.items;
  return prop.type === 'array' && !!items && !Array.isArray(items) && !items.enum && ['string', 'integer', 'number'].includes(String(items.type));
}

/** The rjsf uiSchema from a command's `ui` hints. */
export function uiSchemaFor(command: LibraryCommand): UiSchema {
  const ui: UiSchema = { 'ui:submitButtonOptions': { norender: true } };
  const properties = command.params_schema.properties ?? {};
  const order = (command.ui?.order ?? []).filter((name) => name in properties);
  ui['ui:order'] = [...order, '*'];
  for (const [name, prop] of Object.entries(properties)) {
    const hint = command.ui?.fields?.[name] ?? {};
    const field: UiSchema = {};
    const options: Record<string, boolean> = {};
    const widget = hint.secret ? 'password' : hint.widget;
    if (prop.type === 'object') {
      if (widget === 'headers' || prop.additionalProperties) field['ui:field'] = 'headers';
    } else if (isScalarArray(prop)) {
      field['ui:widget'] = 'list';
      if (widget === 'oid' || widget === 'textarea') options.lines = true;
    } else if (widget === 'oid' || widget === 'text') {
      field['ui:widget'] = 'text';
    } else if (widget === 'duration') {
      field['ui:widget'] = prop.type === 'integer' || prop.type === 'number' ? 'duration' : undefined;
    } else if (widget && ['updown', 'range', 'select', 'checkbox', 'password', 'textarea', 'credential'].includes(widget)) {
      field['ui:widget'] = widget;
    }
    if (hint.help) field['ui:help'] = hint.help;
    if (hint.placeholder) field['ui:placeholder'] = hint.placeholder;
    if (hint.advanced) options.advanced = true;
    if (Object.keys(options).length > 0) field['ui:options'] = options;
    ui[name] = field;
  }
  return ui;
}

/** The params schema as rjsf takes it (ajv's default draft; the 2020-12 `$schema` dropped). */
function formSchema(schema: JsonSchema): RJSFSchema {
  const { $schema: _ignored, ...rest } = schema as Record<string, unknown>;
  return rest as RJSFSchema;
}

/**
 * The client's (ajv) and the server's errors, one source per field (the server's when both
 * name it), so a field does not say the same thing twice.
 */
export function mergeErrors(client: ErrorTree, server: ErrorTree | undefined): ErrorTree | undefined {
  const out: ErrorTree = {};
  let any = false;
  const keys = new Set([...Object.keys(client), ...Object.keys(server ?? {})]);
  for (const key of keys) {
    if (key === '__errors') {
      const mine = client.__errors ?? [];
      const theirs = server?.__errors ?? [];
      // The server's words are clearer ("1000 is greater than the maximum of 100"); ajv's
      // stand in until the server has answered.
      const list = theirs.length > 0 ? theirs : mine;
      if (list.length > 0) {
        out.__errors = list;
        any = true;
      }
      continue;
    }
    const sub = mergeErrors((client[key] as ErrorTree | undefined) ?? {}, server?.[key] as ErrorTree | undefined);
    if (sub) {
      out[key] = sub;
      any = true;
    }
  }
  return any ? out : undefined;
}

export function ParamsForm({
  command,
  params,
  onChange,
  problems,
  problemPrefix,
  idPrefix,
  credentials,
  disabled,
}: {
  command: LibraryCommand;
  params: Record<string, unknown>;
  onChange: (params: Record<string, unknown>) => void;
  /** Server problems (all of them; those under `problemPrefix` are shown). */
  problems: FieldProblem[];
  /** `actions[0].params` */
  problemPrefix: string;
  /** Prefix of the fields' ids (`action-0-params` → `action-0-params_count`). */
  idPrefix: string;
  credentials?: Schemas['CredentialView'][];
  disabled?: boolean;
}) {
  const { t } = useTranslation();
  const schema = useMemo(() => formSchema(command.params_schema), [command]);
  const uiSchema = useMemo(() => uiSchemaFor(command), [command]);
  const defaults = useMemo(() => commandDefaults(command), [command]);
  const formData = useMemo(() => ({ ...defaults, ...params }), [defaults, params]);
  // Validation is done here rather than by rjsf's liveValidate so that errors show from the
  // start (an imported or loaded job), not only after the field is edited.
  // rjsf drops its errors on every change it reports and re-merges `extraErrors` only when
  // their identity changes: `tick` renews them after each change.
  const [tick, setTick] = useState(0);
  const extraErrors = useMemo(() => {
    const client = validator.validateFormData(formData, schema).errorSchema as ErrorTree;
    return { ...mergeErrors(client, paramErrorTree(problems, problemPrefix)), tick: undefined } as ErrorTree;
  }, [problems, problemPrefix, formData, schema, tick]);
  const rootErrors = problems.filter((p) => p.field === problemPrefix).map((p) => p.message);

  return (
    <div
      className="flex flex-col gap-2"
      data-testid={`${idPrefix}-form`}
      role="group"
      aria-label={t('builder.action.paramsFormLabel', { command: command.name })}
      aria-describedby={rootErrors.length > 0 ? `${idPrefix}-root-error` : undefined}
    >
      {rootErrors.length > 0 && (
        <div id={`${idPrefix}-root-error`} className="text-xs text-destructive">
          {rootErrors.map((m, i) => (
            <p key={i}>{m}</p>
          ))}
        </div>
      )}
      <Form
        schema={schema}
        uiSchema={uiSchema}
        formData={formData}
        validator={validator}
        widgets={widgets}
        fields={fields}
        templates={templates}
        formContext={{ credentials }}
        idPrefix={idPrefix}
        idSeparator="_"
        showErrorList={false}
        noHtml5Validate
        // The job keeps only what its author set: no `[null]` for arrays with minItems.
        experimental_defaultFormStateBehavior={{ arrayMinItems: { populate: 'never' }, emptyObjectFields: 'skipDefaults' }}
        extraErrors={extraErrors as never}
        disabled={disabled}
        onChange={({ formData: next }) => {
          setTick((n) => n + 1);
          const sparse = sparseParams((next ?? {}) as Record<string, unknown>, params, defaults);
          if (JSON.stringify(sparse) !== JSON.stringify(params)) onChange(sparse);
        }}
        onSubmit={() => undefined}
      />
    </div>
  );
}
