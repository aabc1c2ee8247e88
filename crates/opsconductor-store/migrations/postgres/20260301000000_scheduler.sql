-- The scheduler: one run per (job, fire time) whatever the scheduler called the fire, the
-- active runs of a job found without scanning every active run, and the watermark the
-- leader hands over to its successor.

-- A catch-up fire stands for a missed schedule slot: it must collide with an on-time fire
-- of the same slot (and with another leader's catch-up of it), so the slot index covers
-- both scheduler triggers. Same name, so error messages keep naming it.
DROP INDEX runs_one_per_schedule_slot;
CREATE UNIQUE INDEX runs_one_per_schedule_slot ON runs (job_id, scheduled_for)
    WHERE trigger IN ('schedule', 'catch_up');

-- The overlap policy asks "does this job have a queued or running run?" for the jobs due
-- on every tick.
CREATE INDEX runs_active_by_job ON runs (job_id)
    WHERE status IN ('queued', 'running');

-- One row: every fire at or before `checked_until` has been handled (fired, skipped or
-- dropped) by a leader. A new leader starts from here, so a fire is neither repeated nor
-- lost across a hand-over, and fires older than that are the ones missed while no
-- controller was up. Only the holder of the scheduler's advisory lock writes it.
CREATE TABLE scheduler_state (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    checked_until timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
