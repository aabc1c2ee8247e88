//! What is due: a pure function of the jobs, the last instant already handled and `now`.
//!
//! Nothing here reads a clock or does I/O, so every rule is tested with fixed instants.
//!
//! For each job, the fires in `(from, now]` are looked at, where `from` is the later of
//! the last instant handled and the job's last change (a fire before a job existed, or
//! before its schedule was edited, is not that job's). Then:
//! - a fire no older than the misfire grace (`now - grace < t <= now`) is **on time**: it
//!   fires, however late within the grace (a slow tick, a leader hand-over);
//! - an older fire was **missed** (no controller was up, or the leader stalled). Missed
//!   fires are dropped — except that, when the job has a catch-up window and nothing fires
//!   on time for it in this evaluation, the most recent missed fire no older than the
//!   window fires once, as a catch-up. One catch-up per gap, never a backlog: monitoring
//!   wants the current state, not a replay.
//!
//! [`due_fires`] is the rule; [`Timetable`] applies it tick after tick without looking at
//! jobs that cannot be due (it keeps every job's next fire time in order), which is what
//! makes 10,000 jobs cheap to tick four times a second.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use opsconductor_core::ids::JobId;
use opsconductor_core::model::{Job, OverlapPolicy, Schedule};

/// Missed fires of one job counted per evaluation, when counting needs one schedule step
/// per fire (cron): a long outage of a seconds-cron is not worth a CPU spike to count
/// exactly. Intervals are counted exactly.
const MISSED_COUNT_CAP: u64 = 100;

/// Most on-time fires of one job in one evaluation; the grace bounds it already (a grace of
/// an hour on a one-second job is 3,600), this only guards against a schedule that never
/// advances.
const MAX_ON_TIME_FIRES: usize = 10_000;

/// A job as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledJob {
    /// The job.
    pub id: JobId,
    /// Its version (a changed job is re-read into the timetable).
    pub version: i64,
    /// When it fires.
    pub schedule: Schedule,
    /// What to do when a fire finds the previous run still going.
    pub overlap: OverlapPolicy,
    /// How old a missed fire may be and still be caught up (zero: never).
    pub catch_up: TimeDelta,
    /// Fires at or before this are not the job's: it did not exist yet, or had another
    /// definition (its last change).
    pub not_before: DateTime<Utc>,
}

impl ScheduledJob {
    /// The scheduler's view of a stored job.
    pub fn from_job(job: &Job) -> Self {
        let catch_up = i64::try_from(job.spec.options.catch_up_seconds)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .unwrap_or(TimeDelta::MAX);
        Self {
            id: job.id,
            version: job.version,
            schedule: job.spec.schedule.clone(),
            overlap: job.spec.options.overlap,
            catch_up,
            not_before: job.updated_at,
        }
    }
}

/// One fire of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fire {
    /// The instant the schedule names (the run's `scheduled_for`).
    pub fire_time: DateTime<Utc>,
    /// The job.
    pub job_id: JobId,
    /// True for the one catch-up of fires missed while no controller was up.
    pub catch_up: bool,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// What fires now, oldest first.
    pub fires: Vec<Fire>,
    /// Fires missed and dropped (not caught up). Exact for intervals and one-shots; cron
    /// fires are counted up to 100 per job and evaluation.
    pub missed: u64,
}

/// The fires due in `(last_checked, now]` for `jobs` under the rules of this module, with
/// `grace` as the misfire grace. A pure function of its arguments.
pub fn due_fires(
    jobs: &[ScheduledJob],
    last_checked: DateTime<Utc>,
    now: DateTime<Utc>,
    grace: TimeDelta,
) -> Due {
    let mut due = Due::default();
    let mut steps = Steps::default();
    for job in jobs {
        evaluate(
            job,
            last_checked.max(job.not_before),
            None,
            now,
            grace,
            &mut steps,
            &mut due,
        );
    }
    due.fires.sort_unstable();
    due
}

/// The rule for one job: pushes its fires in `(from, now]` onto `due` and returns its
/// first fire after `now`. `next_after_from`, when given, is the job's first fire after
/// `from` (the timetable knows it): schedule steps are the costly part of a tick (a cron
/// expression is parsed on every step), so none is taken twice.
fn evaluate(
    job: &ScheduledJob,
    from: DateTime<Utc>,
    next_after_from: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    grace: TimeDelta,
    steps: &mut Steps,
    due: &mut Due,
) -> Option<DateTime<Utc>> {
    if from >= now {
        return steps.next(&job.schedule, now);
    }
    let on_time_from = from.max(now.checked_sub_signed(grace).unwrap_or(from));
    // The first fire after `from` decides most cases without another step: when it is not
    // older than the grace (a job looked at less than a period ago), nothing was missed.
    let first = next_after_from.or_else(|| steps.next(&job.schedule, from));
    let missed_some = on_time_from > from && first.is_some_and(|f| f <= on_time_from);
    let mut on_time = 0;
    let mut next = if missed_some {
        steps.next(&job.schedule, on_time_from)
    } else {
        first
    };
    while let Some(t) = next.filter(|t| *t <= now) {
        due.fires.push(Fire {
            fire_time: t,
            job_id: job.id,
            catch_up: false,
        });
        on_time += 1;
        next = if on_time >= MAX_ON_TIME_FIRES {
            steps.next(&job.schedule, now)
        } else {
            steps.next(&job.schedule, t)
        };
    }
    if !missed_some {
        return next;
    }
    let missed = count_fires(&job.schedule, from, on_time_from);
    let window_from = now
        .checked_sub_signed(job.catch_up)
        .unwrap_or(from)
        .max(from);
    let caught_up = (on_time == 0 && window_from < on_time_from)
        .then(|| last_fire_in(&job.schedule, window_from, on_time_from))
        .flatten();
    if let Some(fire_time) = caught_up {
        due.fires.push(Fire {
            fire_time,
            job_id: job.id,
            catch_up: true,
        });
    }
    due.missed += missed.saturating_sub(u64::from(caught_up.is_some()));
    next
}

/// How many fires `schedule` has in `(after, until]`: exact for intervals and one-shots,
/// capped at [`MISSED_COUNT_CAP`] otherwise.
fn count_fires(schedule: &Schedule, after: DateTime<Utc>, until: DateTime<Utc>) -> u64 {
    if let Schedule::Interval { seconds } = schedule {
        // Fires are the multiples of the interval since the epoch.
        let Ok(every) = i64::try_from(*seconds) else {
            return 0;
        };
        if every <= 0 {
            return 0;
        }
        let fires_up_to = |t: DateTime<Utc>| t.timestamp().div_euclid(every);
        return u64::try_from(fires_up_to(until) - fires_up_to(after)).unwrap_or(0);
    }
    let mut count = 0;
    let mut cursor = after;
    while let Some(t) = next_fire_after(schedule, cursor).filter(|t| *t <= until) {
        count += 1;
        if count >= MISSED_COUNT_CAP {
            break;
        }
        cursor = t;
    }
    count
}

/// The last fire of `schedule` in `(after, until]`, found by bisection over `next_after`
/// (which only ever moves forward), so a week-long window of a seconds-cron costs about
/// twenty schedule steps instead of 600,000.
fn last_fire_in(
    schedule: &Schedule,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let fires_by = |t: DateTime<Utc>| next_fire_after(schedule, t).is_some_and(|f| f <= until);
    if !fires_by(after) {
        return None;
    }
    // Invariant: the next fire after `lo` is within the window, the one after `hi` is not.
    let (mut lo, mut hi) = (after, until);
    while hi - lo > TimeDelta::seconds(1) {
        let mid = lo + (hi - lo) / 2;
        if fires_by(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    // The last fire is within a second after `lo`: step to it.
    let mut last = next_fire_after(schedule, lo)?;
    while let Some(t) = next_fire_after(schedule, last).filter(|t| *t <= until) {
        last = t;
    }
    Some(last)
}

/// The first fire strictly after `after`. Cron fires are whole seconds, but
/// [`Schedule::next_after`] keeps the sub-second part of its argument for cron (a fire "at"
/// 02:00:00.42); asking from the whole second instead gives the true fire time, and the
/// first whole-second fire after the floor is also the first after `after`.
fn next_fire_after(schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    match schedule {
        Schedule::Cron { .. } => {
            let floor = DateTime::from_timestamp(after.timestamp(), 0).unwrap_or(after);
            schedule.next_after(floor)
        }
        _ => schedule.next_after(after),
    }
}

/// Schedule steps of one evaluation, remembered per cron schedule and instant: the jobs due
/// at one instant mostly share a few expressions ("every minute"), and within one
/// evaluation they all step from the same instants (the fire time, `now`), so 10,000 jobs
/// on the same expression cost one cron parse instead of 10,000.
#[derive(Default)]
struct Steps {
    cron: HashMap<(String, String, DateTime<Utc>), Option<DateTime<Utc>>>,
}

impl Steps {
    fn next(&mut self, schedule: &Schedule, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let Schedule::Cron {
            expression,
            timezone,
        } = schedule
        else {
            // Intervals and one-shots are arithmetic: nothing to save.
            return next_fire_after(schedule, after);
        };
        // Cron steps from the whole second (see `next_fire_after`): key on it.
        let key_after = DateTime::from_timestamp(after.timestamp(), 0).unwrap_or(after);
        *self
            .cron
            .entry((expression.clone(), timezone.clone(), key_after))
            .or_insert_with(|| next_fire_after(schedule, after))
    }
}

/// The rule of [`due_fires`] applied tick after tick: every job's next fire time is kept
/// in order, so a tick looks only at the jobs that are due.
#[derive(Debug)]
pub struct Timetable {
    grace: TimeDelta,
    /// Where a job added later starts from: the instant handled when the timetable began.
    origin: DateTime<Utc>,
    /// Every instant up to here is handled.
    checked_until: DateTime<Utc>,
    jobs: HashMap<JobId, Entry>,
    /// (next fire, job) of every job that has one.
    queue: BTreeSet<(DateTime<Utc>, JobId)>,
}

#[derive(Debug)]
struct Entry {
    job: ScheduledJob,
    /// Fires after this are still to be looked at.
    from: DateTime<Utc>,
    /// The first fire after `from` (the job's key in the queue).
    next: Option<DateTime<Utc>>,
}

impl Timetable {
    /// An empty timetable for which everything at or before `checked_until` is handled.
    pub fn new(checked_until: DateTime<Utc>, grace: TimeDelta) -> Self {
        Self {
            grace,
            origin: checked_until,
            checked_until,
            jobs: HashMap::new(),
            queue: BTreeSet::new(),
        }
    }

    /// Every instant up to here is handled.
    pub fn checked_until(&self) -> DateTime<Utc> {
        self.checked_until
    }

    /// The job, if the timetable has it.
    pub fn job(&self, id: JobId) -> Option<&ScheduledJob> {
        self.jobs.get(&id).map(|e| &e.job)
    }

    /// Jobs in the timetable.
    pub fn len(&self) -> usize {
        self.jobs.len()
    }

    /// True when it has no job.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
    }

    /// The earliest fire time of any job, if one has a fire ahead.
    pub fn next_fire(&self) -> Option<DateTime<Utc>> {
        self.queue.first().map(|(t, _)| *t)
    }

    /// Makes the timetable hold exactly `jobs`. A job it already has at the same version
    /// keeps its place; a new job starts from the timetable's origin (so fires between
    /// its creation and this call are still due); a changed job starts from where the old
    /// version was.
    pub fn sync(&mut self, jobs: Vec<ScheduledJob>) {
        let mut old = std::mem::take(&mut self.jobs);
        for job in jobs {
            let from = match old.remove(&job.id) {
                Some(entry) if entry.job == job => {
                    self.jobs.insert(job.id, entry);
                    continue;
                }
                Some(entry) => {
                    self.unqueue(&entry);
                    entry.from
                }
                None => self.origin,
            };
            self.insert(job, from);
        }
        for entry in old.values() {
            self.unqueue(entry);
        }
    }

    /// The fires due at `now` (see the module's rules); afterwards everything up to `now`
    /// is handled. A `now` before the last one changes nothing.
    pub fn due(&mut self, now: DateTime<Utc>) -> Due {
        let mut due = Due::default();
        if now <= self.checked_until {
            return due;
        }
        let mut steps = Steps::default();
        while let Some(&(next, id)) = self.queue.first() {
            if next > now {
                break;
            }
            self.queue.pop_first();
            let Some(entry) = self.jobs.remove(&id) else {
                continue;
            };
            let next = evaluate(
                &entry.job, entry.from, entry.next, now, self.grace, &mut steps, &mut due,
            );
            if now >= entry.job.not_before {
                self.queue_at(entry.job, now, next);
            } else {
                self.insert(entry.job, now);
            }
        }
        self.checked_until = now;
        due.fires.sort_unstable();
        due
    }

    fn insert(&mut self, job: ScheduledJob, from: DateTime<Utc>) {
        let from = from.max(job.not_before);
        let next = next_fire_after(&job.schedule, from);
        self.queue_at(job, from, next);
    }

    /// Files `job` as looked at up to `from`, with `next` its first fire after that.
    fn queue_at(&mut self, job: ScheduledJob, from: DateTime<Utc>, next: Option<DateTime<Utc>>) {
        if let Some(next) = next {
            self.queue.insert((next, job.id));
        }
        self.jobs.insert(job.id, Entry { job, from, next });
    }

    fn unqueue(&mut self, entry: &Entry) {
        if let Some(next) = entry.next {
            self.queue.remove(&(next, entry.job.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc 3339")
            .with_timezone(&Utc)
    }

    fn secs(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }

    const GRACE: TimeDelta = TimeDelta::seconds(10);

    fn job(schedule: Schedule) -> ScheduledJob {
        ScheduledJob {
            id: JobId::new(),
            version: 1,
            schedule,
            overlap: OverlapPolicy::Skip,
            catch_up: TimeDelta::zero(),
            not_before: at("2020-01-01T00:00:00Z"),
        }
    }

    fn cron(expression: &str, timezone: &str) -> Schedule {
        Schedule::Cron {
            expression: expression.into(),
            timezone: timezone.into(),
        }
    }

    fn every(seconds: u64) -> Schedule {
        Schedule::Interval { seconds }
    }

    fn times(due: &Due) -> Vec<(DateTime<Utc>, bool)> {
        due.fires
            .iter()
            .map(|f| (f.fire_time, f.catch_up))
            .collect()
    }

    #[test]
    fn a_fire_is_due_after_the_last_check_up_to_and_including_now() {
        let jobs = [job(every(60))];
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:01:00Z"),
            GRACE,
        );
        assert_eq!(times(&due), [(at("2026-01-01T00:01:00Z"), false)]);
        // The fire at the last check was handled by that check.
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:01:00Z"),
            at("2026-01-01T00:01:59Z"),
            GRACE,
        );
        assert!(due.fires.is_empty());
    }

    #[test]
    fn cron_with_seconds_fires_every_slot_in_the_window() {
        let jobs = [job(cron("*/2 * * * * *", "UTC"))];
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:00:00.5Z"),
            at("2026-01-01T00:00:06Z"),
            GRACE,
        );
        assert_eq!(
            times(&due),
            [
                (at("2026-01-01T00:00:02Z"), false),
                (at("2026-01-01T00:00:04Z"), false),
                (at("2026-01-01T00:00:06Z"), false),
            ]
        );
    }

    #[test]
    fn cron_fires_at_the_local_time_of_its_zone() {
        // 09:00 in New York is 14:00 UTC in winter and 13:00 UTC in summer.
        let jobs = [job(cron("0 0 9 * * *", "America/New_York"))];
        let winter = due_fires(
            &jobs,
            at("2026-01-15T13:59:59Z"),
            at("2026-01-15T14:00:00Z"),
            GRACE,
        );
        assert_eq!(times(&winter), [(at("2026-01-15T14:00:00Z"), false)]);
        let summer = due_fires(
            &jobs,
            at("2026-07-15T12:59:59Z"),
            at("2026-07-15T13:00:00Z"),
            GRACE,
        );
        assert_eq!(times(&summer), [(at("2026-07-15T13:00:00Z"), false)]);
    }

    #[test]
    fn jobs_sharing_an_expression_keep_their_own_time_zone() {
        let utc = job(cron("0 0 9 * * *", "UTC"));
        let tokyo = job(cron("0 0 9 * * *", "Asia/Tokyo"));
        let start = at("2026-01-15T00:00:00Z");
        let mut table = Timetable::new(start, TimeDelta::days(1));
        table.sync(vec![utc.clone(), tokyo.clone()]);
        // 09:00 in Tokyo is 00:00 UTC.
        let due = table.due(at("2026-01-16T00:00:00Z"));
        let fired: Vec<_> = due.fires.iter().map(|f| (f.job_id, f.fire_time)).collect();
        assert_eq!(
            fired,
            [
                (utc.id, at("2026-01-15T09:00:00Z")),
                (tokyo.id, at("2026-01-16T00:00:00Z"))
            ]
        );
    }

    #[test]
    fn a_one_shot_fires_once_and_manual_never() {
        let once = job(Schedule::Once {
            at: at("2026-01-01T00:00:30.250Z"),
        });
        let manual = job(Schedule::Manual);
        let jobs = [once, manual];
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:00:30Z"),
            at("2026-01-01T00:00:31Z"),
            GRACE,
        );
        assert_eq!(times(&due), [(at("2026-01-01T00:00:30.250Z"), false)]);
        let later = due_fires(
            &jobs,
            at("2026-01-01T00:00:31Z"),
            at("2027-01-01T00:00:00Z"),
            GRACE,
        );
        assert_eq!(later, Due::default());
    }

    #[test]
    fn a_late_tick_within_the_grace_fires_every_slot_on_time() {
        // A leader hand-over of three seconds: nothing is lost or caught up.
        let jobs = [job(every(1))];
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:00:03.400Z"),
            GRACE,
        );
        assert_eq!(due.fires.len(), 3);
        assert!(due.fires.iter().all(|f| !f.catch_up));
        assert_eq!(due.missed, 0);
    }

    #[test]
    fn fires_missed_without_a_catch_up_window_are_dropped_and_counted() {
        let jobs = [job(every(60))];
        // Down from 00:00 to 01:00:05: 60 fires, the one at 01:00:00 still within the grace.
        let due = due_fires(
            &jobs,
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T01:00:05Z"),
            GRACE,
        );
        assert_eq!(times(&due), [(at("2026-01-01T01:00:00Z"), false)]);
        assert_eq!(due.missed, 59);
    }

    #[test]
    fn only_the_most_recent_missed_fire_in_the_window_is_caught_up() {
        let mut nightly = job(cron("0 0 2 * * *", "UTC"));
        nightly.catch_up = TimeDelta::hours(6);
        let mut minutely = job(every(60));
        minutely.catch_up = secs(300);
        let jobs = [nightly.clone(), minutely.clone()];
        // Down from 01:00 to 03:00:30.
        let due = due_fires(
            &jobs,
            at("2026-01-01T01:00:00Z"),
            at("2026-01-01T03:00:30Z"),
            GRACE,
        );
        let by_job = |id: JobId| -> Vec<_> {
            due.fires
                .iter()
                .filter(|f| f.job_id == id)
                .map(|f| (f.fire_time, f.catch_up))
                .collect()
        };
        assert_eq!(by_job(nightly.id), [(at("2026-01-01T02:00:00Z"), true)]);
        assert_eq!(by_job(minutely.id), [(at("2026-01-01T03:00:00Z"), true)]);
        // 120 minutely fires: one caught up, the rest dropped; the nightly one is caught up.
        assert_eq!(due.missed, 119);
    }

    #[test]
    fn a_missed_fire_older_than_the_window_is_not_caught_up() {
        let mut nightly = job(cron("0 0 2 * * *", "UTC"));
        nightly.catch_up = TimeDelta::hours(1);
        let due = due_fires(
            &[nightly],
            at("2026-01-01T01:00:00Z"),
            at("2026-01-01T03:30:00Z"),
            GRACE,
        );
        assert!(due.fires.is_empty());
        assert_eq!(due.missed, 1);
    }

    #[test]
    fn an_on_time_fire_makes_the_catch_up_unnecessary() {
        let mut minutely = job(every(60));
        minutely.catch_up = secs(3600);
        let due = due_fires(
            &[minutely],
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:10:02Z"),
            GRACE,
        );
        assert_eq!(times(&due), [(at("2026-01-01T00:10:00Z"), false)]);
        assert_eq!(due.missed, 9);
    }

    #[test]
    fn catching_up_a_week_of_a_seconds_cron_finds_the_last_slot() {
        let mut busy = job(cron("*/7 * * * * *", "UTC"));
        busy.catch_up = TimeDelta::weeks(1);
        let due = due_fires(
            &[busy],
            at("2026-01-01T00:00:00Z"),
            at("2026-01-08T00:00:20Z"),
            secs(2),
        );
        // Seconds 0, 7, …, 56 of each minute: none in the grace (00:00:18, 00:00:20], and
        // the last slot before it is 00:00:14.
        assert_eq!(times(&due), [(at("2026-01-08T00:00:14Z"), true)]);
        assert_eq!(due.missed, MISSED_COUNT_CAP - 1);
    }

    #[test]
    fn fires_before_a_job_existed_are_not_its_own() {
        let mut fresh = job(every(1));
        fresh.not_before = at("2026-01-01T00:00:08.500Z");
        fresh.catch_up = secs(3600);
        let due = due_fires(
            &[fresh],
            at("2026-01-01T00:00:00Z"),
            at("2026-01-01T00:00:10Z"),
            GRACE,
        );
        assert_eq!(
            times(&due),
            [
                (at("2026-01-01T00:00:09Z"), false),
                (at("2026-01-01T00:00:10Z"), false)
            ]
        );
        assert_eq!(due.missed, 0);
    }

    #[test]
    fn the_timetable_ticks_like_the_rule_and_skips_jobs_that_are_not_due() {
        let jobs = vec![
            job(every(1)),
            job(every(60)),
            job(cron("*/15 * * * * *", "Europe/Berlin")),
            job(Schedule::Once {
                at: at("2026-01-01T00:01:30.5Z"),
            }),
        ];
        let start = at("2026-01-01T00:00:00Z");
        let mut table = Timetable::new(start, GRACE);
        table.sync(jobs.clone());
        let mut ticked = Vec::new();
        let mut now = start;
        for _ in 0..(4 * 180) {
            now += TimeDelta::milliseconds(250);
            ticked.extend(table.due(now).fires);
        }
        ticked.sort_unstable();
        let at_once = due_fires(&jobs, start, now, TimeDelta::hours(1));
        assert_eq!(ticked, at_once.fires);
        assert_eq!(ticked.len(), 180 + 3 + 12 + 1);
        assert_eq!(table.checked_until(), now);
    }

    #[test]
    fn a_job_added_later_still_fires_the_slots_since_it_was_created() {
        let start = at("2026-01-01T00:00:00Z");
        let mut table = Timetable::new(start, GRACE);
        assert!(table.due(at("2026-01-01T00:00:05Z")).fires.is_empty());
        let mut fresh = job(every(1));
        fresh.not_before = at("2026-01-01T00:00:03.5Z");
        table.sync(vec![fresh]);
        let due = table.due(at("2026-01-01T00:00:06Z"));
        assert_eq!(due.fires.len(), 3, "{due:?}");
    }

    #[test]
    fn removed_jobs_stop_firing_and_changed_jobs_take_their_new_schedule() {
        let start = at("2026-01-01T00:00:00Z");
        let mut table = Timetable::new(start, GRACE);
        let kept = job(every(1));
        let removed = job(every(1));
        table.sync(vec![kept.clone(), removed]);
        assert_eq!(table.due(at("2026-01-01T00:00:01Z")).fires.len(), 2);
        let mut changed = kept.clone();
        changed.version = 2;
        changed.schedule = every(10);
        changed.not_before = at("2026-01-01T00:00:01.5Z");
        table.sync(vec![changed]);
        assert_eq!(table.len(), 1);
        let due = table.due(at("2026-01-01T00:00:10Z"));
        assert_eq!(times(&due), [(at("2026-01-01T00:00:10Z"), false)]);
        assert_eq!(table.next_fire(), Some(at("2026-01-01T00:00:20Z")));
    }

    #[test]
    fn the_clock_going_back_fires_nothing_twice() {
        let start = at("2026-01-01T00:00:00Z");
        let mut table = Timetable::new(start, GRACE);
        table.sync(vec![job(every(1))]);
        assert_eq!(table.due(at("2026-01-01T00:00:05Z")).fires.len(), 5);
        assert!(table.due(at("2026-01-01T00:00:03Z")).fires.is_empty());
        assert_eq!(table.due(at("2026-01-01T00:00:06Z")).fires.len(), 1);
    }
}
