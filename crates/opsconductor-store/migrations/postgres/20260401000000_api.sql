-- The client API: listing runs newest first (per job and overall), deleting a job with
-- its history, dry runs, job templates and controller settings.

-- "Latest runs of this job" (dashboard tick bar, run list, last-run column) and "latest
-- runs" read the newest rows first and page by (created_at, id).
CREATE INDEX runs_by_job_newest ON runs (job_id, created_at DESC, id DESC);
CREATE INDEX runs_newest ON runs (created_at DESC, id DESC);

-- Deleting a job deletes its runs (and, through chunks' own cascade, their chunks and
-- outbox rows). Results carry no foreign key (see the initial schema); the store deletes
-- them explicitly in the same transaction.
ALTER TABLE runs DROP CONSTRAINT runs_job_id_fkey;
ALTER TABLE runs ADD CONSTRAINT runs_job_id_fkey
    FOREIGN KEY (job_id) REFERENCES jobs (id) ON DELETE CASCADE;

-- A dry run (one action on one target, from the Job Builder) runs through the normal
-- pipeline as a hidden, manual job that is deleted when its result is in: it never shows
-- in job lists and never fires by itself.
ALTER TABLE jobs ADD COLUMN hidden boolean NOT NULL DEFAULT false;

-- Tag filters on the job list.
CREATE INDEX jobs_tags ON jobs USING gin ((spec -> 'tags'));

-- Saved job definitions to start new jobs from. The spec is a full job spec, validated by
-- the controller like a job's.
CREATE TABLE job_templates (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    spec        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Controller settings an admin changes at run time, one JSON document, versioned for
-- optimistic concurrency like jobs.
CREATE TABLE settings (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version    bigint NOT NULL DEFAULT 1,
    document   jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
