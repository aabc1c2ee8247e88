// The Job Builder (`/jobs/new`, `/jobs/:jobId/edit`): name, description and tags; targets;
// ordered action cards (command, generated params form, live preview, parsers and their test
// panel, success criteria); schedule; options. The server validates as you type and every
// problem is shown at its field and in the summary. Save (with `If-Match` when editing),
// save and run, templates, JSON import / export and an unsaved-changes guard.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useNavigate, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { FileDown, FileUp, FolderOpen, Loader2, Play, Save, Stamp } from 'lucide-react';
import { toast } from 'sonner';
import { api, ApiError, errorMessage, unwrap, type FieldProblem } from '../../api/client';
import { useAuth } from '../../auth/AuthProvider';
import { ConfirmDialog, Dialog } from '../../components/Dialog';
import { Button, Card, ErrorState, Field, Input, LoadingRows, PageHeader } from '../../components/ui';
import { describedBy } from './describedBy';
import { TargetPicker } from './targets/TargetPicker';
import { ScheduleEditor } from './schedule/ScheduleEditor';
import { ActionList } from './ActionList';
import { JobOptionsEditor } from './JobOptionsEditor';
import { LoadTemplateDialog, SaveTemplateDialog } from './Templates';
import { UnsavedGuard } from './UnsavedGuard';
import { ValidationSummary } from './ValidationSummary';
import {
  cleanJob,
  draftOf,
  emptyJob,
  moveItem,
  newKey,
  problemsAt,
  problemsUnder,
  specFrom,
  stableJson,
  type Draft,
  type JobSpec,
  type JobView,
} from './model';
import { useCommands, useCredentials, useLiveValidation, useParsers, useSegments } from './queries';
import { saveBlob } from '../../lib/download';

interface Loaded {
  job: JobView;
  etag: string;
}

export default function JobBuilder() {
  const { jobId } = useParams();
  const { t } = useTranslation();
  const job = useQuery({
    // The job with its ETag, under its own key: ['job', id] holds the bare job (history).
    queryKey: ['job', jobId, 'with-etag'],
    queryFn: async (): Promise<Loaded> => {
      const result = await api.GET('/api/v1/jobs/{id}', { params: { path: { id: jobId! } } });
      const view = unwrap(result);
      return { job: view, etag: result.response.headers.get('etag') ?? `"${view.version}"` };
    },
    enabled: !!jobId,
    // A cached copy shows at once, but is always asked for again: another page (a bulk pause
    // on the dashboard) may have changed the job, and saving with its old ETag would fail.
    // The editor takes a newer version only while the draft is untouched.
    refetchOnMount: 'always',
  });
  const commands = useCommands();
  const parsers = useParsers();
  const jobName = job.data?.job.name;

  useEffect(() => {
    const title = !jobId ? t('builder.titleNew') : jobName !== undefined ? t('builder.titleEditNamed', { name: jobName }) : t('builder.titleEdit');
    document.title = `${title} · OpsConductor`;
  }, [t, jobId, jobName]);

  if ((jobId && job.isPending) || commands.isPending || parsers.isPending) {
    return (
      <div>
        <PageHeader title={jobId ? t('builder.titleEdit') : t('builder.titleNew')} />
        <LoadingRows rows={6} />
      </div>
    );
  }
  // A failed background refetch keeps the editor (and the draft in it): only a failed first
  // load is an error page.
  const failure = (jobId && !job.data && job.error) || (!commands.data && commands.error) || (!parsers.data && parsers.error);
  if (failure) {
    return (
      <div>
        <PageHeader title={jobId ? t('builder.titleEdit') : t('builder.titleNew')} />
        <ErrorState
          error={failure}
          onRetry={() => {
            void job.refetch();
            void commands.refetch();
            void parsers.refetch();
          }}
        />
      </div>
    );
  }
  return <Editor key={jobId ?? 'new'} jobId={jobId} loaded={jobId ? job.data : undefined} />;
}

function Editor({ jobId, loaded }: { jobId?: string; loaded?: Loaded }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const queryClient = useQueryClient();
  const { can } = useAuth();
  const canEdit = can('operator');
  const roleReason = t('common.requiresRole', { role: t('roles.operator') });
  const commands = useCommands().data ?? [];
  const parsers = useParsers().data ?? [];
  const credentials = useCredentials().data ?? [];
  const segments = useSegments().data ?? [];

  const [draft, setDraft] = useState<Draft>(() => draftOf(specFrom(loaded?.job) ?? emptyJob()));
  const [baseline, setBaseline] = useState(() => stableJson(cleanJob(specFrom(loaded?.job) ?? emptyJob())));
  // The stored version the draft is based on (its ETag goes into `If-Match`). It follows
  // `loaded` only while the draft is untouched; afterwards only saves and explicit reloads.
  const [base, setBase] = useState<Loaded | undefined>(loaded);
  const etag = base?.etag;
  // The draft as last initialised from the server (first load, a newer version that came in
  // before any edit, an explicit reload): while `draft` is this very object, the user has not
  // touched it and a newer version may replace it.
  const untouched = useRef<Draft>(draft);
  const draftRef = useRef(draft);
  draftRef.current = draft;
  const [saving, setSaving] = useState<null | 'save' | 'run' | 'overwrite'>(null);
  const [saveProblems, setSaveProblems] = useState<FieldProblem[] | null>(null);
  const [conflict, setConflict] = useState(false);
  const [savingTemplate, setSavingTemplate] = useState(false);
  const [loadingTemplate, setLoadingTemplate] = useState(false);
  const [replacement, setReplacement] = useState<{ spec: JobSpec; message: string } | null>(null);
  const [importReport, setImportReport] = useState<{ file: string; problems: FieldProblem[]; error?: string } | null>(null);
  const [tagsText, setTagsText] = useState(() => (draft.job.tags ?? []).join(', '));
  const leaving = useRef(false);
  const fileInput = useRef<HTMLInputElement>(null);

  const spec = useMemo(() => cleanJob(draft.job), [draft.job]);
  const specJson = useMemo(() => stableJson(spec), [spec]);
  const dirty = specJson !== baseline;
  const validation = useLiveValidation(spec, specJson);
  const problems = saveProblems ?? validation.problems;

  const update = useCallback((change: (job: JobSpec) => JobSpec) => {
    setSaveProblems(null);
    setDraft((d) => ({ ...d, job: change(d.job) }));
  }, []);

  const replaceSpec = (next: JobSpec) => {
    const replaced = draftOf(next);
    setSaveProblems(null);
    setDraft(replaced);
    setTagsText((next.tags ?? []).join(', '));
    return replaced;
  };

  /** Starts over from a stored version: draft, baseline and ETag. */
  const adopt = (next: Loaded) => {
    const nextSpec = specFrom(next.job) ?? emptyJob();
    untouched.current = replaceSpec(nextSpec);
    setBaseline(stableJson(cleanJob(nextSpec)));
    setBase(next);
  };
  const adoptRef = useRef(adopt);
  adoptRef.current = adopt;

  // A refetch (on mount, or after an invalidation) brought a newer version: take it while the
  // draft is untouched; never overwrite edits (saving them answers 412 and offers a reload).
  const baseVersion = base?.job.version;
  useEffect(() => {
    if (!loaded || baseVersion === undefined || loaded.job.version <= baseVersion) return;
    if (draftRef.current !== untouched.current) return;
    adoptRef.current(loaded);
  }, [loaded, baseVersion]);

  // ---- save ---------------------------------------------------------------------------

  const save = async (mode: 'save' | 'run' | 'overwrite') => {
    setSaving(mode);
    try {
      let view: JobView = base?.job as JobView;
      const body = spec;
      if (!jobId || dirty || mode === 'overwrite') {
        const result = jobId
          ? await api.PUT('/api/v1/jobs/{id}', {
              params: { path: { id: jobId }, header: { 'If-Match': mode === 'overwrite' ? '*' : etag } },
              body,
            })
          : await api.POST('/api/v1/jobs', { body });
        view = unwrap(result);
        const newTag = result.response.headers.get('etag') ?? `"${view.version}"`;
        setBase({ job: view, etag: newTag });
        setBaseline(stableJson(body));
        setSaveProblems(null);
        queryClient.setQueryData(['job', view.id, 'with-etag'], { job: view, etag: newTag });
        // The history page's bare job and every job list are out of date too.
        void queryClient.invalidateQueries({ queryKey: ['job', view.id], exact: true });
        void queryClient.invalidateQueries({ queryKey: ['jobs'] });
        toast.success(t('builder.save.saved', { name: view.name }));
      }
      if (mode === 'run') {
        const run = unwrap(await api.POST('/api/v1/jobs/{id}/runs', { params: { path: { id: view.id } } }));
        toast.success(t('builder.save.started', { name: view.name }));
        leaving.current = true;
        void navigate(`/runs/${run.id}`);
      } else if (!jobId) {
        leaving.current = true;
        void navigate(`/jobs/${view.id}/edit`, { replace: true });
      }
    } catch (error) {
      if (error instanceof ApiError && error.status === 412) {
        setConflict(true);
      } else if (error instanceof ApiError && error.status === 422 && error.problem.errors?.length) {
        setSaveProblems(error.problem.errors);
        toast.error(t('builder.save.invalid', { count: error.problem.errors.length }));
      } else {
        toast.error(t('builder.save.failed', { message: errorMessage(error) }));
      }
    } finally {
      setSaving(null);
    }
  };

  const reloadLatest = async () => {
    if (!jobId) return;
    const result = await api.GET('/api/v1/jobs/{id}', { params: { path: { id: jobId } } });
    const view = unwrap(result);
    const tag = result.response.headers.get('etag') ?? `"${view.version}"`;
    const latest = { job: view, etag: tag };
    queryClient.setQueryData(['job', jobId, 'with-etag'], latest);
    adopt(latest);
    toast.info(t('builder.conflict.reloaded'));
  };

  // Ctrl/Cmd+S saves.
  const saveRef = useRef(save);
  saveRef.current = save;
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
        e.preventDefault();
        if (canEdit && !saving) void saveRef.current('save');
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [canEdit, saving]);

  // ---- import / export ------------------------------------------------------------------

  const exportJson = () => {
    const blob = new Blob([`${JSON.stringify(spec, null, 2)}\n`], { type: 'application/json' });
    const file = `${(spec.name || 'job').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'job'}.json`;
    saveBlob(blob, file);
    toast.success(t('builder.io.exported', { file }));
  };

  const importFile = async (file: File) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(await file.text());
    } catch (error) {
      setImportReport({ file: file.name, problems: [], error: t('builder.io.notJson', { message: errorMessage(error) }) });
      return;
    }
    const next = specFrom(parsed);
    if (!next) {
      setImportReport({ file: file.name, problems: [], error: t('builder.io.notAJob') });
      return;
    }
    const apply = async () => {
      replaceSpec(next);
      let found: FieldProblem[] = [];
      try {
        unwrap(await api.POST('/api/v1/jobs/validate', { body: cleanJob(next) }));
      } catch (error) {
        found =
          error instanceof ApiError ? (error.problem.errors ?? [{ field: '', message: error.message }]) : [{ field: '', message: errorMessage(error) }];
      }
      setImportReport({ file: file.name, problems: found });
      if (found.length === 0) toast.success(t('builder.io.imported', { file: file.name }));
      else toast.warning(t('builder.io.importedProblems', { file: file.name, count: found.length }));
    };
    if (dirty) setReplacement({ spec: next, message: t('builder.io.replaceBody', { file: file.name }) });
    else await apply();
    pendingApply.current = apply;
  };
  const pendingApply = useRef<(() => Promise<void>) | null>(null);

  // ---- problems at the job's own fields -------------------------------------------------

  const at = (field: string) => problemsAt(problems, field).join('; ') || undefined;
  const targetProblems = problemsUnder(problems, 'targets');
  const scheduleProblems = problemsUnder(problems, 'schedule');
  const tagsError = problemsUnder(problems, 'tags').map((p) => p.message).join('; ') || undefined;
  const actionListProblems = problemsAt(problems, 'actions');
  const generalProblems = problems.filter((p) => p.field === '');

  const saveDisabled = !canEdit || saving !== null;
  const saveReason = !canEdit ? roleReason : t('builder.save.busy');

  return (
    <div className="flex flex-col gap-4">
      <UnsavedGuard shouldBlock={() => dirty && !leaving.current} />
      <PageHeader
        title={jobId ? t('builder.titleEditNamed', { name: base?.job.name ?? '' }) : t('builder.titleNew')}
        actions={
          <>
            <Button onClick={() => setLoadingTemplate(true)}>
              <FolderOpen className="size-4" aria-hidden="true" />
              {t('builder.templates.loadButton')}
            </Button>
            <Button onClick={() => fileInput.current?.click()}>
              <FileUp className="size-4" aria-hidden="true" />
              {t('builder.io.import')}
            </Button>
            <input
              ref={fileInput}
              type="file"
              accept="application/json,.json"
              className="sr-only"
              tabIndex={-1}
              aria-label={t('builder.io.fileLabel')}
              onChange={(e) => {
                const file = e.target.files?.[0];
                e.target.value = '';
                if (file) void importFile(file);
              }}
            />
            <Button onClick={exportJson}>
              <FileDown className="size-4" aria-hidden="true" />
              {t('builder.io.export')}
            </Button>
            <Button onClick={() => setSavingTemplate(true)} disabled={!canEdit} disabledReason={roleReason}>
              <Stamp className="size-4" aria-hidden="true" />
              {t('builder.templates.saveButton')}
            </Button>
            <Button variant="primary" onClick={() => void save('save')} disabled={saveDisabled} disabledReason={saveReason}>
              {saving === 'save' ? <Loader2 className="size-4 animate-spin" aria-hidden="true" /> : <Save className="size-4" aria-hidden="true" />}
              {t('builder.save.save')}
            </Button>
            <Button variant="primary" onClick={() => void save('run')} disabled={saveDisabled} disabledReason={saveReason}>
              {saving === 'run' ? <Loader2 className="size-4 animate-spin" aria-hidden="true" /> : <Play className="size-4" aria-hidden="true" />}
              {t('builder.save.saveAndRun')}
            </Button>
          </>
        }
      >
        <span data-testid="builder-dirty-state" aria-live="polite">
          {dirty ? t('builder.unsaved') : jobId ? t('builder.savedVersion', { version: base?.job.version ?? '' }) : t('builder.newHint')}
        </span>
        {!canEdit && <span className="ml-2 font-medium">{t('builder.viewerNote')}</span>}
      </PageHeader>

      {importReport && (
        <div role="alert" className="flex flex-col gap-1 rounded-md border border-border bg-card p-3 text-sm" data-testid="import-report">
          <div className="flex items-start justify-between gap-2">
            <p className="font-medium">
              {importReport.error
                ? t('builder.io.failed', { file: importReport.file })
                : importReport.problems.length
                  ? t('builder.io.reportProblems', { file: importReport.file, count: importReport.problems.length })
                  : t('builder.io.reportOk', { file: importReport.file })}
            </p>
            <Button size="sm" variant="ghost" onClick={() => setImportReport(null)}>
              {t('builder.io.dismiss')}
            </Button>
          </div>
          {importReport.error && <p className="text-destructive">{importReport.error}</p>}
          {importReport.problems.length > 0 && (
            <ul className="list-disc pl-5 text-destructive">
              {importReport.problems.map((p, i) => (
                <li key={i}>
                  {p.field ? <span className="font-mono text-xs">{p.field}: </span> : null}
                  {p.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}

      <div className="grid items-start gap-4 lg:grid-cols-[minmax(0,1fr)_18rem]">
        <div className="flex min-w-0 flex-col gap-6">
          <Card className="p-4">
            <section aria-labelledby="builder-general-title" className="flex flex-col gap-3">
              <h2 id="builder-general-title" className="text-lg font-semibold">
                {t('builder.general.title')}
              </h2>
              {generalProblems.length > 0 && (
                <p className="text-sm text-destructive">
                  {generalProblems.map((p) => p.message).join('; ')}
                </p>
              )}
              <div className="grid gap-3 md:grid-cols-2">
                <Field live={false} id="job-name" label={t('builder.general.name')} error={at('name')}>
                  <Input
                    id="job-name"
                    value={draft.job.name}
                    required
                    maxLength={200}
                    aria-invalid={!!at('name') || undefined}
                    aria-describedby={describedBy('job-name', { error: at('name') })}
                    onChange={(e) => update((j) => ({ ...j, name: e.target.value }))}
                  />
                </Field>
                <Field live={false} id="job-tags" label={t('builder.general.tags')} help={t('builder.general.tagsHelp')} error={tagsError}>
                  <Input
                    id="job-tags"
                    value={tagsText}
                    aria-invalid={!!tagsError || undefined}
                    aria-describedby={describedBy('job-tags', { help: true, error: tagsError })}
                    placeholder={t('builder.general.tagsPlaceholder')}
                    onChange={(e) => {
                      setTagsText(e.target.value);
                      const tags = e.target.value.split(',').map((s) => s.trim()).filter(Boolean);
                      update((j) => ({ ...j, tags }));
                    }}
                  />
                </Field>
              </div>
              <Field live={false} id="job-description" label={t('builder.general.description')} error={at('description')}>
                <textarea
                  id="job-description"
                  rows={2}
                  className="rounded-md border border-input bg-background p-2 text-sm"
                  value={draft.job.description ?? ''}
                  aria-invalid={!!at('description') || undefined}
                  aria-describedby={describedBy('job-description', { error: at('description') })}
                  onChange={(e) => update((j) => ({ ...j, description: e.target.value }))}
                />
              </Field>
              <label className="flex items-center gap-2 text-sm">
                <input
                  id="job-enabled"
                  type="checkbox"
                  checked={draft.job.enabled !== false}
                  onChange={(e) => update((j) => ({ ...j, enabled: e.target.checked }))}
                />
                {t('builder.general.enabled')}
              </label>
            </section>
          </Card>

          <Card className="p-4">
            <section aria-labelledby="builder-targets-title" className="flex flex-col gap-3">
              <h2 id="builder-targets-title" className="text-lg font-semibold">
                {t('builder.targets.title')}
              </h2>
              <div id="job-targets" tabIndex={-1} aria-describedby={targetProblems.length > 0 ? 'job-targets-problems' : undefined}>
                <TargetPicker
                  value={draft.job.targets}
                  onChange={(targets) => update((j) => ({ ...j, targets }))}
                  segment={draft.job.options?.segment ?? null}
                />
              </div>
              {targetProblems.length > 0 && (
                <div id="job-targets-problems" data-testid="targets-problems">
                  <ul className="text-sm text-destructive">
                    {targetProblems.map((p, i) => (
                      <li key={i}>{p.message}</li>
                    ))}
                  </ul>
                </div>
              )}
            </section>
          </Card>

          <div className="flex flex-col gap-2">
            {actionListProblems.length > 0 && (
              <p className="text-sm text-destructive">
                {actionListProblems.join('; ')}
              </p>
            )}
            <ActionList
              actions={draft.job.actions}
              keys={draft.keys}
              commands={commands}
              parsers={parsers}
              credentials={credentials}
              problems={problems}
              segment={draft.job.options?.segment ?? null}
              canRun={canEdit}
              runReason={roleReason}
              onAdd={(command) =>
                setDraft((d) => ({ job: { ...d.job, actions: [...d.job.actions, { command: command.id, params: {} }] }, keys: [...d.keys, newKey()] }))
              }
              onChange={(index, action) => update((j) => ({ ...j, actions: j.actions.map((a, i) => (i === index ? action : a)) }))}
              onRemove={(index) =>
                setDraft((d) => ({ job: { ...d.job, actions: d.job.actions.filter((_, i) => i !== index) }, keys: d.keys.filter((_, i) => i !== index) }))
              }
              onMove={(from, to) => setDraft((d) => ({ job: { ...d.job, actions: moveItem(d.job.actions, from, to) }, keys: moveItem(d.keys, from, to) }))}
            />
          </div>

          <Card className="p-4">
            <section aria-labelledby="builder-schedule-title" className="flex flex-col gap-3">
              <h2 id="builder-schedule-title" className="text-lg font-semibold">
                {t('builder.schedule.title')}
              </h2>
              <div id="job-schedule" tabIndex={-1} aria-describedby={scheduleProblems.length > 0 ? 'job-schedule-problems' : undefined}>
                <ScheduleEditor value={draft.job.schedule} onChange={(schedule) => update((j) => ({ ...j, schedule }))} />
              </div>
              {scheduleProblems.length > 0 && (
                <div id="job-schedule-problems" data-testid="schedule-problems">
                  <ul className="text-sm text-destructive">
                    {scheduleProblems.map((p, i) => (
                      <li key={i}>{p.message}</li>
                    ))}
                  </ul>
                </div>
              )}
            </section>
          </Card>

          <Card className="p-4">
            <section aria-labelledby="builder-options-title" className="flex flex-col gap-3">
              <h2 id="builder-options-title" className="text-lg font-semibold">
                {t('builder.options.title')}
              </h2>
              <JobOptionsEditor
                value={draft.job.options ?? {}}
                onChange={(options) => update((j) => ({ ...j, options }))}
                segments={segments}
                problems={problems}
              />
            </section>
          </Card>
        </div>

        <aside className="sticky top-4 flex flex-col gap-3" aria-label={t('builder.sidebar')}>
          <Card className="p-3">
            <ValidationSummary state={validation} problems={problems} />
          </Card>
          <Card className="flex flex-col gap-2 p-3 text-sm">
            <p>
              {t('builder.summary.actions', { count: draft.job.actions.length })}
            </p>
            <Button variant="primary" onClick={() => void save('save')} disabled={saveDisabled} disabledReason={saveReason} aria-label={t('builder.save.saveSidebar')}>
              <Save className="size-4" aria-hidden="true" />
              {t('builder.save.save')}
            </Button>
            <p className="text-xs text-muted-foreground">{t('builder.save.shortcut')}</p>
          </Card>
        </aside>
      </div>

      <SaveTemplateDialog open={savingTemplate} onOpenChange={setSavingTemplate} spec={() => spec} defaultName={spec.name} />
      <LoadTemplateDialog
        open={loadingTemplate}
        onOpenChange={setLoadingTemplate}
        onLoad={(template) => {
          const next = specFrom(template.spec) ?? emptyJob();
          const apply = async () => {
            replaceSpec(next);
            toast.success(t('builder.templates.loaded', { name: template.name }));
          };
          pendingApply.current = apply;
          if (dirty) setReplacement({ spec: next, message: t('builder.templates.replaceBody', { name: template.name }) });
          else void apply();
        }}
      />
      <ConfirmDialog
        open={replacement !== null}
        onOpenChange={(open) => !open && setReplacement(null)}
        title={t('builder.replace.title')}
        confirmLabel={t('builder.replace.confirm')}
        danger
        onConfirm={async () => {
          setReplacement(null);
          await pendingApply.current?.();
        }}
      >
        {replacement?.message}
      </ConfirmDialog>
      <Dialog
        open={conflict}
        onOpenChange={setConflict}
        title={t('builder.conflict.title')}
        description={t('builder.conflict.body')}
        footer={
          <>
            <Button onClick={() => setConflict(false)}>{t('builder.conflict.keep')}</Button>
            <Button
              onClick={() => {
                setConflict(false);
                void reloadLatest().catch((e: unknown) => toast.error(errorMessage(e)));
              }}
            >
              {t('builder.conflict.reload')}
            </Button>
            <Button
              variant="danger"
              onClick={() => {
                setConflict(false);
                void save('overwrite');
              }}
            >
              {t('builder.conflict.overwrite')}
            </Button>
          </>
        }
      />
    </div>
  );
}
