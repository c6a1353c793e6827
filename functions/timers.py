"""Timers: scheduled drift, scheduled retrain, the sweeper and retention cleanup.

Schedules are NCRONTAB expressions from app settings (`%DRIFTLINE_*_SCHEDULE%`); each job checks its
own enable setting in `shared/jobs/`, so a schedule can always be present.
"""

import logging
from datetime import datetime, timezone

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger(__name__)


@bp.function_name("timer_drift")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFTLINE_DRIFT_SCHEDULE%")
def timer_drift(timer: func.TimerRequest) -> None:
    from shared.jobs import scheduled  # the core loads on first use, not at indexing

    _run(scheduled.scheduled_drift, timer)


@bp.function_name("timer_retrain")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFTLINE_RETRAIN_SCHEDULE%")
def timer_retrain(timer: func.TimerRequest) -> None:
    from shared.jobs import scheduled

    _run(scheduled.scheduled_retrain, timer)


@bp.function_name("timer_sweep")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFTLINE_SWEEP_SCHEDULE%")
def timer_sweep(timer: func.TimerRequest) -> None:
    from shared.jobs import sweeper

    _run(sweeper.sweep, timer)


@bp.function_name("timer_cleanup")
@bp.timer_trigger(arg_name="timer", schedule="%DRIFTLINE_CLEANUP_SCHEDULE%")
def timer_cleanup(timer: func.TimerRequest) -> None:
    from shared.jobs import retention

    _run(retention.cleanup, timer)


def _run(job, timer: func.TimerRequest) -> None:
    from shared.platform import context

    if timer.past_due:
        log.info("%s is past due; running it now", job.__name__)
    outcome = job(context.storage(), context.settings(), datetime.now(timezone.utc))
    log.info("%s: %s (%s) %s", outcome.job, outcome.action, outcome.detail, ",".join(outcome.run_ids))
