"""Timer triggers: NCRONTAB (6 fields, seconds first; 5 fields accepted) or a TimeSpan `hh:mm:ss`.

- The schedule may be a `%Setting%`; a schedule that resolves to empty, `off` or `disabled` means
  the timer does not run (logged at start).
- `runOnStartup` invokes once when the host starts.
- Schedule monitor (`useMonitor`, default on for schedules of one minute or longer, as the host):
  after each run the status {Last, Next, LastUpdated} is stored in the host storage account at
  `azure-webjobs-hosts/timers/<hostId>/Host.Functions.<name>/status`; if at start the recorded
  Next has passed, the timer fires at once with `past_due=True` (an occurrence was missed while
  the host was not running).
- While running, an occurrence fired more than `past_due_tolerance` seconds late (a previous
  invocation overran the schedule) is invoked once with `past_due=True`; further missed
  occurrences are skipped, and one invocation of a timer never overlaps the next.
- Times are evaluated in the local time zone of the machine (Azure uses UTC unless
  WEBSITE_TIME_ZONE is set).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from azure.core.exceptions import ResourceNotFoundError
from azure.functions.timer import TimerRequest
from azure.storage.blob import BlobClient
from croniter import croniter

from devhost.errors import BindingError

if TYPE_CHECKING:
    from devhost.invocation import Invoker
    from devhost.metadata import FunctionSpec
    from devhost.runtime import Runtime

log = logging.getLogger("devhost")

DISABLED = ("", "off", "disabled")
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})$")


class Schedule:
    """Next occurrence after a moment, from NCRONTAB or a fixed interval."""

    def __init__(self, expression: str, where: str):
        self.expression = expression.strip()
        span = _TIMESPAN.match(self.expression)
        self.interval: timedelta | None = None
        if span:
            days, hours, minutes, seconds = (int(g or 0) for g in span.groups())
            self.interval = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
            if self.interval.total_seconds() <= 0:
                raise BindingError(f"{where}: schedule {expression!r} must be a positive interval.")
            return
        fields = self.expression.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(self.expression, second_at_beginning=len(fields) == 6):
            raise BindingError(
                f"{where}: schedule {expression!r} is not a valid NCRONTAB expression "
                f"('{{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}', e.g. '0 */5 * * * *')."
            )
        self._six = len(fields) == 6

    def next_after(self, moment: datetime) -> datetime:
        if self.interval is not None:
            return moment + self.interval
        return croniter(self.expression, moment, second_at_beginning=self._six).get_next(datetime)

    def typical_interval(self, moment: datetime) -> timedelta:
        first = self.next_after(moment)
        return self.next_after(first) - first


class TimerListener:
    def __init__(self, spec: FunctionSpec, runtime: Runtime, invoker: Invoker, *, past_due_tolerance: float):
        self.spec = spec
        self.runtime = runtime
        self.invoker = invoker
        self.past_due_tolerance = timedelta(seconds=past_due_tolerance)
        where = f"Function '{spec.name}' timer trigger"
        raw = str(spec.trigger.get("schedule") or "")
        self.schedule = None if raw.strip().lower() in DISABLED else Schedule(raw, where)
        self.run_on_startup = bool(spec.trigger.get("runOnStartup"))
        monitor = spec.trigger.get("useMonitor")
        if monitor is None and self.schedule is not None:
            monitor = self.schedule.typical_interval(self._now()) >= timedelta(minutes=1)
        self.use_monitor = bool(monitor)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _now() -> datetime:
        return datetime.now().astimezone()

    def start(self) -> None:
        if self.schedule is None:
            log.info("Timer function '%s' is disabled: schedule resolved to %r.", self.spec.name, self.spec.trigger.get("schedule"))
            return
        self._thread = threading.Thread(target=self._loop, args=(self.schedule,), name=f"timer-{self.spec.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def close(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        pass

    def run_once(self, text: str) -> bool:
        request = TimerRequest(past_due=False)
        self.invoker.invoke_in_background(self.spec, lambda annotation: request, {}, "admin invoke")
        return True

    def quiet_since(self, moment: float) -> bool:
        return True  # timers fire forever; they never keep the host from being idle

    def busy_reason(self) -> str:
        return f"timer {self.spec.name}"

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self, schedule: Schedule) -> None:
        now = self._now()
        past_due_at_start = self._missed_while_stopped(now)
        if past_due_at_start or self.run_on_startup:
            reason = "past due at start" if past_due_at_start else "run on startup"
            self._fire(schedule, now, past_due=past_due_at_start, reason=reason)
        tolerance = self.past_due_tolerance
        scheduled = schedule.next_after(self._now())
        missed = False
        while not self._stop.is_set():
            wait = (scheduled - self._now()).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                break
            late = missed or self._now() - scheduled > tolerance
            self._fire(schedule, scheduled, past_due=late, reason="past due" if late else "schedule")
            # Occurrences missed while the function ran collapse into one past-due run of the latest.
            following = schedule.next_after(scheduled)
            now = self._now()
            missed = now - following > tolerance
            if missed:
                while schedule.next_after(following) <= now:
                    following = schedule.next_after(following)
            scheduled = following

    def _fire(self, schedule: Schedule, scheduled: datetime, *, past_due: bool, reason: str) -> None:
        next_time = schedule.next_after(max(scheduled, self._now()))
        status = {
            "Last": scheduled.isoformat(),
            "Next": next_time.isoformat(),
            "LastUpdated": self._now().isoformat(),
        }
        request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
        detail = f"timer scheduled={scheduled.isoformat(timespec='seconds')} past_due={past_due} reason={reason}"
        self.invoker.invoke(self.spec, lambda annotation: request, {}, detail)
        if self.use_monitor:
            self._write_status(status)

    # -- schedule monitor ------------------------------------------------------------------------

    def _status_blob(self) -> BlobClient:
        container = self.runtime.connections.container(None, "azure-webjobs-hosts", create=True)
        return container.get_blob_client(f"timers/{self.runtime.host_id}/{self.spec.function_id}/status")

    def _missed_while_stopped(self, now: datetime) -> bool:
        if not self.use_monitor:
            return False
        try:
            status = json.loads(self._status_blob().download_blob().readall())
            recorded_next = datetime.fromisoformat(status["Next"])
        except ResourceNotFoundError:
            return False
        except (ValueError, KeyError, TypeError) as error:
            log.warning("Timer '%s': unreadable schedule status (%s); ignoring it.", self.spec.name, error)
            return False
        if recorded_next.tzinfo is None:
            recorded_next = recorded_next.astimezone()
        return now > recorded_next

    def _write_status(self, status: dict) -> None:
        try:
            self._status_blob().upload_blob(json.dumps(status).encode(), overwrite=True)
        except Exception as error:
            log.warning("Timer '%s': could not store the schedule status: %s", self.spec.name, error)
