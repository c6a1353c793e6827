"""OpenTelemetry traces of the chain: one span per step, one trace per run, across the queues.

- `configure(settings)`, once per process (`shared.platform.context.settings()` calls it on first
  use): with APPLICATIONINSIGHTS_CONNECTION_STRING set, azure-monitor-opentelemetry exports traces
  and logs (with their run fields, see `shared.platform.logs`) to Application Insights; else with
  DRIFTLINE_TRACE_CONSOLE=true the spans are printed to stdout as JSON; else nothing is recorded
  (the API's no-op tracer; the SDK is never imported).
- `step_span(message)` is the span of one step: its parent is the message's W3C traceparent
  (`StepMessage.trace`), its attributes the run id, step, model and attempt; an exception leaving it
  marks it failed.
- `event_span(name, traceparent)` is the span of an event that may start a run (a webhook delivery, a
  retrain request, a lake upload, a push from the queue): its parent is the caller's traceparent (the
  request's `traceparent` header, the invocation's trace context, the push message's), and a run it
  starts takes its traceparent from it, so the trace begins where the event came in, not at the
  run's first step. With tracing off the caller's traceparent itself is carried on.
- `current_traceparent()` is the traceparent of the current span context, else None (with tracing
  off, a step's context is its message's own); `shared.platform.messages` writes it into every message it makes, so the next step's span is
  a child of the step that sent it and a run's steps form one trace.
Heavy imports happen inside the functions: importing this module loads only the standard library.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

    from shared.platform.settings import Settings


class Traced(Protocol):
    """What a step span needs of a `StepMessage` (messages imports this module, not the reverse)."""

    @property
    def run_id(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def attempt(self) -> int: ...
    @property
    def trace(self) -> str: ...
    @property
    def trigger(self) -> dict[str, Any]: ...

TRACER = "driftline"
_lock = threading.Lock()
_configured: str | None = None  # "azure-monitor", "console" or "off" once configured
_provider: "TracerProvider | None" = None


def configure(settings: "Settings") -> str:
    """Set up the exporter the settings ask for, the first time only; returns which one."""
    global _configured
    with _lock:
        if _configured is not None:
            return _configured
        if settings.appinsights_connection_string:
            from azure.monitor.opentelemetry import configure_azure_monitor

            configure_azure_monitor(connection_string=settings.appinsights_connection_string)
            _configured = "azure-monitor"
        elif settings.trace_console:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

            provider = SdkTracerProvider(resource=Resource.create({"service.name": "driftline"}))
            provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
            trace.set_tracer_provider(provider)
            _configured = "console"
        else:
            _configured = "off"
        return _configured


def use_provider(provider: "TracerProvider | None") -> None:
    """Record spans with `provider` instead of the global one (tests); None goes back to the global."""
    global _provider
    _provider = provider


def _tracer():
    from opentelemetry import trace

    return (_provider or trace.get_tracer_provider()).get_tracer(TRACER)


@contextmanager
def step_span(message: Traced) -> Iterator["Span"]:
    """The span of one step of a run, child of the span that sent its message."""
    attributes: dict[str, Any] = {"driftline.run_id": message.run_id, "driftline.step": message.step,
                                  "driftline.model": message.model, "driftline.attempt": message.attempt,
                                  "driftline.trigger": str(message.trigger.get("kind"))}
    with _span(f"driftline {message.step}", message.trace, "consumer", attributes) as span:
        yield span


@contextmanager
def event_span(name: str, traceparent: str | None, kind: str = "server",
               attributes: dict[str, Any] | None = None) -> Iterator["Span"]:
    """The span of an incoming event (`kind` "server" for a request, "consumer" for a queue or blob
    trigger), child of `traceparent` when the caller sent one, else the root of a new trace."""
    with _span(name, traceparent, kind, attributes or {}) as span:
        yield span


@contextmanager
def _span(name: str, traceparent: str | None, kind: str, attributes: dict[str, Any]) -> Iterator["Span"]:
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": traceparent} if traceparent else {})
    with _tracer().start_as_current_span(name, context=parent, kind=SpanKind[kind.upper()],
                                         attributes=attributes) as span:
        yield span


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span context, or None when there is none."""
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    if not trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")
