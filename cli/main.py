"""`./driftline <command>`: the daily tasks of running Driftline, over its HTTP API and its storage.

Every command reads the settings once (`--settings`, else ./local.settings.json, else the project's,
with the environment over them). User errors print one line, `error: ...`, and exit 1; `follow`
exits 1 when the run failed or was rejected, so scripts can wait on a run.
"""

from __future__ import annotations

import functools
import getpass
import shutil
import tempfile
import time
import webbrowser
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from cli.client import Api
from cli.config import ROOT, Config
from cli.errors import CliError

app = typer.Typer(name="driftline", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Driftline from the command line: upload data, watch runs, approve, promote, roll back.")
out = Console(highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

FINAL = {"succeeded", "failed", "rejected", "skipped"}
FAILED = {"failed", "rejected"}
STATUS_STYLE = {"succeeded": "green", "failed": "red", "rejected": "red", "skipped": "yellow",
                "running": "cyan", "waiting": "magenta", "pending": "dim"}
LARGE_UPLOAD = 8 * 1024 * 1024  # files from this size on show a progress bar
RESET_FOLDERS = (".azurite", ".demo-repo")  # the emulator's data, the demo's watched repository


class Target(StrEnum):
    labeled = "labeled"
    incoming = "incoming"


class _State:
    settings_path: Path | None = None


STATE = _State()
F = TypeVar("F", bound=Callable[..., Any])


@app.callback()
def main(settings: Annotated[Path | None, typer.Option(
        "--settings", help="local.settings.json to read (default: ./local.settings.json, else the project's)")] = None,
         ) -> None:
    STATE.settings_path = settings


def command(function: F) -> F:
    """A CLI command: user errors become one line on stderr and exit code 1."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        from shared.platform.errors import DriftlineError, UserError

        try:
            return function(*args, **kwargs)
        except CliError as error:
            message = str(error)
        except UserError as error:
            message = error.message
        except DriftlineError as error:  # settings errors and the like: the message names the fix
            message = str(error)
        err.print(f"[red]error:[/red] {message}")
        raise typer.Exit(1)

    app.command(name=function.__name__.rstrip("_").replace("_", "-"))(run)
    return function


def config() -> Config:
    return Config.load(STATE.settings_path)


def api() -> Api:
    return Api(config().client)


def styled(status: str | None) -> str:
    text = status or "-"
    return f"[{STATUS_STYLE.get(text, 'white')}]{text}[/]"


def person(by: str | None) -> str:
    return by or getpass.getuser()


# -- upload ---------------------------------------------------------------------------------------


@command
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV, CSV.gz, Parquet or JSON Lines")],
    to: Annotated[Target, typer.Option("--to", help="labeled: training data (retrains); incoming: production data (drift check)")] = Target.labeled,
    name: Annotated[str | None, typer.Option("--as", help="name under the folder (default: the file's name)")] = None,
    wait: Annotated[bool, typer.Option(help="wait for the app to pick the file up and print what it started")] = True,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the app")] = 180.0,
) -> None:
    """Upload a file to the lake (datalake/labeled/ or datalake/incoming/)."""
    from shared.events import lake
    from shared.platform import names

    blob = f"{to.value}/{(name or file.name).lstrip('/')}"
    storage = config().storage
    size = file.stat().st_size
    with file.open("rb") as handle:
        if size >= LARGE_UPLOAD:
            from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

            with Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                          TransferSpeedColumn(), console=err) as progress:
                task = progress.add_task(f"uploading {file.name}", total=size)
                counting = _Counting(handle, lambda n: progress.advance(task, n))
                etag = storage.put_bytes(names.DATALAKE, blob, cast(IO[bytes], counting))
        else:
            etag = storage.put_bytes(names.DATALAKE, blob, handle.read())
    out.print(f"uploaded {file} -> {names.DATALAKE}/{blob} ({size} bytes)")
    if not wait:
        return
    deadline = time.monotonic() + timeout
    with err.status(f"waiting for the app to pick up {blob}"):
        while (receipt := lake.read_receipt(storage, blob, etag)) is None:
            if time.monotonic() > deadline:
                raise CliError(f"the app did not pick up {blob} within {timeout:.0f} s: is it running "
                               "(./driftline start)? The file stays in the lake.")
            time.sleep(0.5)
    out.print(f"{receipt['action']}: {receipt['detail']}")
    if receipt.get("run_id"):
        out.print(f"run {receipt['run_id']} — follow it with: ./driftline follow {receipt['run_id']}")


class _Counting:
    """A read-only file that reports how many bytes were read (the storage SDK reads it in blocks;
    it offers no length, so the SDK uploads block by block and the bar moves)."""

    def __init__(self, handle: IO[bytes], advance: Callable[[int], None]):
        self._handle = handle
        self._advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._advance(len(data))
        return data


# -- runs -----------------------------------------------------------------------------------------


@command
def runs(
    status: Annotated[str | None, typer.Option(help="running, waiting, succeeded, failed, rejected or skipped")] = None,
    model: Annotated[str | None, typer.Option(help="only this model's runs")] = None,
    limit: Annotated[int, typer.Option(help="at most this many, most recently updated first")] = 20,
) -> None:
    """List runs, most recently updated first."""
    found = api().get("runs", {"status": status, "model": model, "limit": limit})["runs"]
    if not found:
        out.print("no runs" + ("" if status is None and model is None else " match the filters"))
        return
    table = Table("run", "status", "plan", "step", "trigger", "updated", "cost", "reason")
    for run in found:
        step = "-" if run["step"] is None else f"{run['step']} ({run['step_status']})"
        table.add_row(run["run_id"], styled(run["status"]), run["plan"], step, run["trigger"],
                      (run["updated"] or "")[:19], dollars(run.get("cost_usd")), (run["reason"] or "")[:60])
    out.print(table)


@command
def follow(
    run: Annotated[str, typer.Argument(help="the run id")],
    interval: Annotated[float, typer.Option(help="seconds between looks")] = 1.0,
    timeout: Annotated[float, typer.Option(help="give up after this many seconds (0: never)")] = 0.0,
) -> None:
    """Show a run's steps live until it ends or waits for approval; exit 1 if it failed or was rejected."""
    client = api()
    deadline = None if timeout <= 0 else time.monotonic() + timeout
    seen = 0
    while True:
        timeline = client.get(f"runs/{run}")
        if seen == 0:
            out.print(f"run {timeline['run_id']} ({timeline['plan']} plan, model {timeline['model']}): "
                      f"{timeline['reason']}")
        for event in timeline["events"][seen:]:
            out.print(f"  {event['at'][11:19]}  {(event['step'] or 'run'):<10} {styled(event['status']):<10} "
                      f"{event['detail']}")
        seen = len(timeline["events"])
        status = timeline["status"]
        if status in FINAL or status == "waiting":
            break
        if deadline is not None and time.monotonic() > deadline:
            raise CliError(f"run {run} is still {status} after {timeout:.0f} s.")
        time.sleep(interval)
    out.print(steps_table(timeline))
    if cost_line(timeline):
        out.print(cost_line(timeline))
    if status == "waiting":
        out.print(f"waiting for a person: ./driftline approve {run}  or  ./driftline reject {run} --reason ...")
    else:
        out.print(f"run {run} {styled(status)}")
    if status in FAILED:
        raise typer.Exit(1)


def dollars(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}" if value < 1 else f"${value:.2f}"


def cost_line(timeline: dict[str, Any]) -> str | None:
    """What the run cost so far, as the app estimates it (Flex Consumption rates, DRIFTLINE_COST_*)."""
    cost = timeline.get("cost")
    if not cost:
        return None
    azureml = f" + Azure ML {dollars(cost['azureml_usd'])}" if cost["azureml_usd"] else ""
    return (f"cost: {dollars(cost['total_usd'])} ({cost['executions']} executions, "
            f"{cost['gb_seconds']:.1f} GB-s{azureml}; estimated at the DRIFTLINE_COST_* rates)")


def steps_table(timeline: dict[str, Any]) -> Table:
    table = Table("step", "status", "attempts", "seconds", "reason")
    for step in timeline["steps"]:
        seconds = "" if step["duration_s"] is None else f"{step['duration_s']:.1f}"
        table.add_row(step["step"], styled(step["status"]), str(step["attempts"] or ""), seconds,
                      (step["reason"] or "")[:100])
    return table


def decision_path(run: str, action: str, by: str | None) -> str:
    """The route of a decision, signed as the app's approval links are: with DRIFTLINE_APPROVAL_SECRET
    in your settings the CLI mints the one-time link of the pending request for you (`--by`, which
    must be one of DRIFTLINE_APPROVERS); without it the app needs App Service authentication."""
    from urllib.parse import quote

    from shared.chain import approvals, approvers
    from shared.platform import names

    settings = config().settings
    path = f"runs/{quote(run, safe='')}/{action}"
    if not settings.approval_secret:
        return path
    from shared.chain import runs

    storage = config().storage
    pending = storage.read_json(names.RUNS, approvals.marker_blob(run))
    if pending is None:  # nothing to sign for: say why, as the app would
        record = runs.get_run(storage, run)
        raise CliError(f"run {run} does not exist." if record is None else
                       f"run {run} is {record['status']}, not waiting for approval.")
    token = approvers.link_token(settings.approval_secret, run, action, person(by),
                                 str(pending.value["requested"]), str(pending.value["expires"]))
    return f"{path}?token={quote(token, safe='')}"


@command
def approve(
    run: Annotated[str, typer.Argument(help="the run id")],
    reason: Annotated[str, typer.Option(help="why (kept on the run)")] = "approved from the CLI",
    by: Annotated[str | None, typer.Option(help="who decides (default: your user name)")] = None,
) -> None:
    """Approve a run that waits for approval: its deploy step starts."""
    decided = api().post(decision_path(run, "approve", by), {"reason": reason})
    again = " (it was approved already)" if decided["repeated"] else ""
    out.print(f"run {run} approved{again}; now {styled(decided['status'])}, next: {decided['next'] or 'nothing'}")


@command
def reject(
    run: Annotated[str, typer.Argument(help="the run id")],
    reason: Annotated[str, typer.Option(help="why (kept on the run and notified)")],
    by: Annotated[str | None, typer.Option(help="who decides (default: your user name)")] = None,
) -> None:
    """Reject a run that waits for approval: it ends, nothing is deployed."""
    decided = api().post(decision_path(run, "reject", by), {"reason": reason})
    out.print(f"run {run} rejected; now {styled(decided['status'])}")


# -- models ---------------------------------------------------------------------------------------


@command
def models(model: Annotated[str | None, typer.Option(help="only this model (default: every model)")] = None) -> None:
    """Models with their versions, aliases and metrics."""
    client = api()
    chosen = [model] if model else [entry["model"] for entry in client.get("models")["models"]]
    if not chosen:
        out.print("no model registered yet: upload labeled data (./driftline upload FILE) to train one")
    for name in chosen:
        overview = client.get(f"models/{name}")
        table = Table("version", "aliases", "metrics", "committed", "commit", "run", title=f"model {name}")
        for version in reversed(overview["versions"]):
            table.add_row(str(version["version"]), ", ".join(version["aliases"]), metrics_text(version["metrics"]),
                          (version["committed_at"] or "")[:19], (version["commit"] or "")[:10], version["run_id"] or "")
        out.print(table)


def metrics_text(metrics: Any) -> str:
    """`holdout.accuracy=0.912 ...`: the holdout's numbers first, the training's after."""
    if not isinstance(metrics, dict):
        return ""
    parts = []
    for group in sorted(metrics, key=lambda g: g != "holdout"):
        values = metrics[group]
        if isinstance(values, dict):
            parts += [f"{group}.{k}={v:.3f}" for k, v in sorted(values.items()) if isinstance(v, (int, float))]
    return " ".join(parts)


def _model(name: str | None) -> str:
    return name or config().settings.model_name


@command
def promote(
    version: Annotated[int, typer.Argument(help="the registered version to serve")],
    model: Annotated[str | None, typer.Option(help="default: DRIFTLINE_MODEL_NAME")] = None,
    reason: Annotated[str, typer.Option(help="why (kept in the alias history)")] = "promoted from the CLI",
    by: Annotated[str | None, typer.Option(help="who decides (default: your user name)")] = None,
) -> None:
    """Serve a registered version in production (the one serving now becomes `previous`)."""
    name = _model(model)
    done = api().post(f"models/{name}/promote", {"version": version, "by": person(by), "reason": reason})
    out.print(f"model {name}: production is v{done['production']}")


@command
def rollback(
    to: Annotated[int | None, typer.Option("--to", help="the registered version to go back to (default: previous)")] = None,
    model: Annotated[str | None, typer.Option(help="default: DRIFTLINE_MODEL_NAME")] = None,
    reason: Annotated[str, typer.Option(help="why (kept in the alias history)")] = "rolled back from the CLI",
    by: Annotated[str | None, typer.Option(help="who decides (default: your user name)")] = None,
) -> None:
    """Roll production back to the previous version, or to any registered one with --to."""
    name = _model(model)
    body: dict[str, Any] = {"by": person(by), "reason": reason}
    if to is not None:
        body["version"] = to
    done = api().post(f"models/{name}/rollback", body)
    out.print(f"model {name}: production is v{done['production']}")


@command
def retrain(
    model: Annotated[str | None, typer.Option(help="default: DRIFTLINE_MODEL_NAME")] = None,
    reason: Annotated[str, typer.Option(help="why (kept on the run)")] = "asked from the CLI",
    by: Annotated[str | None, typer.Option(help="who asks (default: your user name)")] = None,
) -> None:
    """Retrain now on the lake's labeled data; prints the run id to follow."""
    started = api().post(f"models/{_model(model)}/retrain", {"by": person(by), "reason": reason})
    out.print(f"run {started['run_id']} started — follow it with: ./driftline follow {started['run_id']}")


# -- drift reports --------------------------------------------------------------------------------


@command
def report(
    model: Annotated[str | None, typer.Option(help="default: DRIFTLINE_MODEL_NAME")] = None,
    open_: Annotated[bool, typer.Option("--open", help="open it in the browser")] = False,
    folder: Annotated[Path | None, typer.Option("--out", help="where to save it (default: a temporary folder)")] = None,
) -> None:
    """Save the latest drift report of a model as HTML and print its path (--open shows it)."""

    from shared.platform import names

    storage = config().storage
    name = _model(model)
    pages = sorted(item.name for item in storage.list(names.REPORTS, f"{name}/") if item.name.endswith(".html"))
    if not pages:
        raise CliError(f"model {name} has no drift report yet: upload production data "
                       "(./driftline upload FILE --to incoming) to check it for drift.")
    latest = pages[-1]
    target = (folder or Path(tempfile.gettempdir()) / "driftline-reports") / Path(latest).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(storage.get_bytes(names.REPORTS, latest)[0])
    summary = storage.read_json(names.REPORTS, latest[: -len(".html")] + ".json")
    if summary is not None:
        result = summary.value
        verdict = "[red]drift[/red]" if result.get("dataset_drift") else "[green]no drift[/green]"
        out.print(f"{names.REPORTS}/{latest}: {verdict} — {result.get('reason', '')}")
    out.print(str(target))
    if open_ and not webbrowser.open(target.as_uri()):
        raise CliError(f"no browser could be opened; the report is at {target}.")


# -- local training -------------------------------------------------------------------------------


@command
def train(
    local: Annotated[Path, typer.Option("--local", exists=True, dir_okay=False, readable=True,
                                        help="labeled data to train on (CSV, CSV.gz, Parquet, JSON Lines)")],
    repo: Annotated[Path, typer.Option(help="the ML repository: a folder with driftline.toml")] = Path("."),
) -> None:
    """Run the repository's training entry point on a file, in the sandbox, as a run would; prints metrics."""
    from shared.model.labeled import BadFile, check_labeled, read_labeled
    from shared.model.metrics import quality_of
    from shared.model.training import split_holdout
    from shared.repo.config import load_config
    from shared.repo.train_runner import TrainingFailed, train_in_sandbox

    root = repo.resolve()
    repo_config = load_config(root)
    target = repo_config.model.target
    try:  # the reader and checks intake applies to an upload
        with local.open("rb") as stream:
            frame = check_labeled(*read_labeled(stream, local.name), target).frame
    except BadFile as error:
        raise CliError(f"{local} would be quarantined: {error} (driftline.toml [model] target is {target!r}).") from None
    train_rows, holdout = split_holdout(frame, config().settings.holdout_percent)
    if train_rows.empty or holdout.empty or train_rows[target].nunique() < 2:
        raise CliError(f"{len(frame)} rows are too few to train and hold out a share (both classes needed).")
    features = [column for column in frame.columns if column != target]
    inference = None if repo_config.inference is None else repo_config.inference.module
    params = {"seed": 0, **repo_config.training.params, "target_column": target}
    out.print(f"training {repo_config.training.entry_point} on {len(train_rows)} rows of {local} "
              f"(holding out {len(holdout)}) in the sandbox")
    try:
        trained = train_in_sandbox(root, entry_point=repo_config.training.entry_point, params=params,
                                   inference=inference, train=train_rows, holdout_features=holdout[features])
    except TrainingFailed as error:
        raise CliError(str(error)) from None
    predicted = trained.predictions
    quality = quality_of(holdout[target], predicted["predictions"], predicted["probabilities"], predicted["classes"])
    table = Table("metric", "value", title=f"trained in {trained.duration_s:.1f} s")
    for group, values in (("holdout", quality), ("training", trained.metrics)):
        for key, value in sorted(values.items()):
            table.add_row(f"{group}.{key}", f"{value:.4f}" if isinstance(value, float) else str(value))
    out.print(table)
    out.print("files the training imported: " + ", ".join(trained.imported))


# -- local data -----------------------------------------------------------------------------------


@command
def reset(yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False) -> None:
    """Wipe the local emulator's data (.azurite/) and the demo's repository (.demo-repo/)."""
    from devtools.azurite import DEFAULT_ENDPOINTS, is_running

    present = [ROOT / folder for folder in RESET_FOLDERS if (ROOT / folder).exists()]
    if not present:
        out.print("nothing to reset: no local emulator data")
        return
    if is_running(DEFAULT_ENDPOINTS):
        raise CliError("Azurite is running on 10000-10002: stop the app first (Ctrl-C in ./driftline start).")
    listed = ", ".join(f"{path.name}/" for path in present)
    if not yes and not typer.confirm(f"delete {listed} (every blob, queue message, run and model there)?"):
        raise typer.Exit(1)
    for path in present:
        shutil.rmtree(path)
    out.print(f"deleted {listed}")


if __name__ == "__main__":
    app()
