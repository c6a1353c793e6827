"""HTTP answers for every route, made in one place.

`respond(where, call, req)` runs a handler's core call and turns what it returns or raises into a response:
- with the request given, its body is first checked against the size limit (DRIFTLINE_MAX_BODY_BYTES, or
  DRIFTLINE_WEBHOOK_MAX_BYTES on the webhook routes): a larger one is 413 before the handler runs;
- an `Answer` (status, body, headers) or a plain dict (200) becomes JSON;
- a `UserError` answers its own status and one-sentence message (`shared.platform.errors.http_answer`);
- a `SettingsError` (a bad app setting) is logged naming the setting and answered 500 with a JSON body
  saying the app is misconfigured (the value stays in the log);
- anything else is unexpected: logged with its traceback under a correlation id, answered 500 with a
  JSON body naming that id. No route answers an empty 500.
With `traced` (and on the webhook routes) the call runs in an event span whose parent is the request's
`traceparent` header (`shared.platform.tracing.event_span`), so a run it starts continues the caller's trace.
`respond_html` does the same for the pages, answering HTML (an error page with the same status and message).

Only azure.functions and the standard library load at import; the errors module on the first request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import azure.functions as func

if TYPE_CHECKING:
    from shared.platform.errors import Answer

log = logging.getLogger("functions")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json",
                             headers=headers)


def json_body(req: func.HttpRequest, expected: str) -> Any:
    """The parsed JSON body within the API's limits (size, depth, array length: 413); BadRequest
    saying what is expected when it is not JSON. See shared/platform/bodies.py."""
    from shared.platform import bodies, context

    return bodies.parse_json(req.get_body(), bodies.api_limits(context.settings()), expected)


def respond(where: str, call: Callable[[], "Answer | dict[str, Any]"], req: func.HttpRequest | None = None, *,
            webhook: bool = False, traced: bool = False) -> func.HttpResponse:
    from shared.platform.errors import Answer

    try:
        if req is not None:
            from shared.platform import bodies, context

            settings = context.settings()
            limits = bodies.webhook_limits(settings) if webhook else bodies.api_limits(settings)
            bodies.check_size(len(req.get_body()), limits)
        with _event_span(where, req) if req is not None and (webhook or traced) else nullcontext():
            result = call()
    except Exception as error:
        answer = error_answer(where, error)
    else:
        answer = result if isinstance(result, Answer) else Answer(200, result)
    return json_response(answer.body, answer.status, answer.headers or None)


def _event_span(where: str, req: func.HttpRequest):
    from shared.platform import tracing

    return tracing.event_span(f"driftline {where}", req.headers.get("traceparent"))


def respond_html(where: str, call: Callable[[], "str | bytes"], error_page: Callable[[int, dict[str, Any]], str],
                 headers: dict[str, str]) -> func.HttpResponse:
    """As `respond`, for pages: the call's HTML with `headers`, or an HTML `error_page(status, body)`
    with the status and message the JSON answer would have (and its correlation id on a 500)."""
    try:
        html, status, extra = call(), 200, {}
    except Exception as error:
        answer = error_answer(where, error)
        html, status, extra = error_page(answer.status, answer.body), answer.status, answer.headers
    return func.HttpResponse(html, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={**headers, **extra})


def error_answer(where: str, error: Exception) -> "Answer":
    """The answer for an error a handler raised; unexpected ones are logged with a correlation id."""
    from shared.platform.errors import Answer, SettingsError, UserError, http_answer, log_unexpected

    if isinstance(error, UserError):
        answer = http_answer(error)
        if answer.status >= 500:
            log.error("%s: %s", where, error.message, exc_info=error)
        return answer
    if isinstance(error, SettingsError):  # the app is misconfigured: the log names the setting, callers learn that much
        log.error("%s: the app's settings are invalid: %s", where, error)
        return Answer(500, {"error": "the app is misconfigured: an app setting is invalid; its log names it."})
    return http_answer(error, log_unexpected(log, error, where))  # the one place unexpected errors become an answer
