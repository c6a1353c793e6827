"""Run ids everywhere, structured logs and traces across the chain, on the real step functions.

- every log record of a step carries the run id, step and model as fields, and names the run in
  its message; records outside a run carry none of them;
- with a tracer provider, each step is a span whose parent is the step that sent its message, so a
  run is one trace; without one, messages keep the run's traceparent;
- the console exporter (DRIFTLINE_TRACE_CONSOLE) and azure-monitor-opentelemetry
  (APPLICATIONINSIGHTS_CONNECTION_STRING) are configured from the settings, in fresh interpreters
  (a tracer provider can be set once per process);
- a person's retrain answers 202 with its run id.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.platform import logs, names, tracing
from shared.platform.messages import StepMessage

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def test_every_log_record_of_a_step_carries_its_run(chain, labeled_frame, caplog):
    logs.install()
    caplog.set_level(logging.INFO)
    logging.getLogger("tests").info("before any run")
    run_id, _ = chain.train_version(labeled_frame)
    ours = [r for r in caplog.records if r.name.startswith(("shared", "functions"))]
    in_run = [r for r in ours if hasattr(r, "run_id")]
    assert {r.step for r in in_run} >= {"fetch", "retrain", "register", "test", "deploy"}
    assert all(r.run_id == run_id and r.model == chain.model and run_id in r.getMessage() for r in in_run)
    assert [r.getMessage() for r in in_run if r.name == "shared.chain.steps"][:1] == [f"run {run_id} step fetch: done"]
    outside = next(r for r in caplog.records if r.getMessage() == "before any run")
    assert not any(hasattr(outside, name) for name in logs.FIELDS)


def test_a_message_that_does_not_name_the_run_gets_its_fields(caplog):
    logs.install()
    caplog.set_level(logging.INFO)
    with logs.bound("abc123", "deploy", "churn"):
        logging.getLogger("shared.test").info("moved %s", "production")
        logging.getLogger("shared.test").info("run %s already named", "abc123")
    first, second = caplog.records[-2:]
    assert first.getMessage() == "moved production [run abc123 step deploy model churn]"
    assert second.getMessage() == "run abc123 already named"
    assert (first.run_id, first.step, first.model) == ("abc123", "deploy", "churn")


def test_a_run_is_one_trace_with_a_span_per_step(chain, labeled_frame, spans):
    run_id, _ = chain.train_version(labeled_frame)
    finished = sorted(spans.get_finished_spans(), key=lambda span: span.start_time)
    assert [s.name for s in finished] == [f"driftline {step}" for step in ("fetch", "retrain", "register", "test", "deploy")]
    first_trace = chain.run(run_id)["trace"]  # the run's traceparent: 00-<trace id>-<parent id>-01
    trace_id, parent_id = first_trace.split("-")[1:3]
    assert {format(s.context.trace_id, "032x") for s in finished} == {trace_id}
    assert format(finished[0].parent.span_id, "016x") == parent_id
    for before, after in zip(finished, finished[1:]):
        assert after.parent.span_id == before.context.span_id  # each step is the child of the one that sent it
    assert all(s.attributes["driftline.run_id"] == run_id and s.attributes["driftline.model"] == chain.model
               for s in finished)


CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"  # a caller's W3C traceparent


def test_a_run_continues_the_trace_of_the_request_that_started_it(chain, labeled_frame, spans):
    chain.intake(labeled_frame, "d.csv")
    answer = chain.http("retrain_model", "models/x/retrain", {"by": "ops", "reason": "now"}, name=chain.model,
                        headers={"traceparent": CALLER})
    run_id = json.loads(answer.get_body())["run_id"]
    chain.pump(run_id)
    finished = sorted(spans.get_finished_spans(), key=lambda span: span.start_time)
    request, first_step = finished[0], finished[1]
    assert request.name == "driftline retrain_model" and request.kind.name == "SERVER"
    assert format(request.parent.span_id, "016x") == CALLER.split("-")[2]
    assert {format(s.context.trace_id, "032x") for s in finished} == {CALLER.split("-")[1]}
    assert first_step.name == "driftline fetch" and first_step.parent.span_id == request.context.span_id
    assert chain.run(run_id)["status"] == "succeeded"


def test_without_a_tracer_messages_keep_the_runs_trace(chain, labeled_frame):
    run_id = chain.start([chain.upload(labeled_frame, "d.csv")])
    trace = chain.run(run_id)["trace"]
    [fetch] = chain.take(names.FETCH_QUEUE, run_id)
    chain.deliver(names.FETCH_QUEUE, fetch)
    [retrain] = chain.take(names.RETRAIN_QUEUE, run_id)
    assert StepMessage.from_json(fetch).trace == StepMessage.from_json(retrain).trace == trace


PROBE = """
import json, sys
from shared.platform import tracing
from shared.platform.messages import StepMessage
from shared.platform.settings import load_settings
settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", **json.loads(sys.argv[1])})
kind = tracing.configure(settings)
message = StepMessage(run_id="r1", step="fetch", model="m", trigger={"kind": "manual"}, reason="probe")
with tracing.step_span(message):
    inside = tracing.current_traceparent()
print(json.dumps({"kind": kind, "inside": inside, "next": message.next("retrain").trace, "first": message.trace}))
"""


def probe(env: dict[str, str]) -> tuple[dict, str]:
    result = subprocess.run([sys.executable, "-c", PROBE, json.dumps(env)], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    return json.loads(lines[-1]), "\n".join(lines[:-1])


def test_console_tracing_prints_the_step_spans():
    found, printed = probe({"DRIFTLINE_TRACE_CONSOLE": "true"})
    assert found["kind"] == "console" and found["inside"].split("-")[1] == found["first"].split("-")[1]
    assert '"name": "driftline fetch"' in printed and '"driftline.run_id": "r1"' in printed


def test_no_tracing_by_default():
    found, printed = probe({})
    # nothing recorded or printed; the step's context is the message's own, passed on unchanged
    assert found["kind"] == "off" and printed == ""
    assert found["inside"] == found["next"] == found["first"]


def test_application_insights_when_its_connection_string_is_set():
    # An ingestion endpoint nothing listens on: the exporter is configured, nothing leaves the machine.
    found, _ = probe({"APPLICATIONINSIGHTS_CONNECTION_STRING":
                      "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"})
    assert found["kind"] == "azure-monitor" and found["inside"] is not None
    assert found["inside"].split("-")[1] == found["first"].split("-")[1]  # the step continues the message's trace


def test_a_persons_retrain_answers_202_with_its_run(chain, labeled_frame):
    body = {"by": "ops", "reason": "new features", "request_id": "ticket-42"}
    first = chain.http("retrain_model", "models/x/retrain", body, name=chain.model)
    started = json.loads(first.get_body())
    assert first.status_code == 202 and started["run"] == f"/api/runs/{started['run_id']}"
    run = chain.run(started["run_id"])
    assert run["plan"] == "data" and run["trigger"] == {
        "kind": "manual", "by": "ops", "identity": {"name": "ops", "id": None, "source": "function-key"}}
    assert "retrain asked by ops: new features" in run["reason"]
    again = chain.http("retrain_model", "models/x/retrain", body, name=chain.model)
    assert again.status_code == 200 and json.loads(again.get_body())["run_id"] == started["run_id"]
    other = chain.http("retrain_model", "models/x/retrain", body, name="other-model")
    assert other.status_code == 404 and "DRIFTLINE_MODEL_NAME" in json.loads(other.get_body())["error"]
    assert chain.http("retrain_model", "models/x/retrain", {"by": "ops"}, name=chain.model).status_code == 400
    assert chain.intake(labeled_frame, "d.csv")["action"] == "retrain"  # joins the dataset the run reads
    chain.pump(started["run_id"])
    assert chain.run(started["run_id"])["status"] == "succeeded"
