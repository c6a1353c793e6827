"""HTTP answers for every route, made in one place.

`respond(where, call)` runs a handler's core call and turns what it returns or raises into a response:
- an `Answer` (status, body, headers) or a plain dict (200) becomes JSON;
- a `UserError` answers its own status and one-sentence message (`shared.platform.errors.http_answer`);
- anything else is unexpected: logged with its traceback under a correlation id, answered 500 with a
  JSON body naming that id. No route answers an empty 500.
`respond_html` does the same for the pages, answering HTML (an error page with the same status and message).

Only azure.functions and the standard library load at import; the errors module on the first request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import azure.functions as func

if TYPE_CHECKING:
    from shared.platform.errors import Answer

log = logging.getLogger("functions")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body, default=str), status_code=status, mimetype="application/json",
                             headers=headers)


def json_body(req: func.HttpRequest, expected: str) -> Any:
    """The parsed JSON body; BadRequest saying what is expected when it is not JSON."""
    from shared.platform.errors import BadRequest

    try:
        return req.get_json()
    except ValueError:
        raise BadRequest(f"the body must be JSON: {expected}.") from None


def respond(where: str, call: Callable[[], "Answer | dict[str, Any]"]) -> func.HttpResponse:
    from shared.platform.errors import Answer

    try:
        result = call()
    except Exception as error:
        answer = error_answer(where, error)
    else:
        answer = result if isinstance(result, Answer) else Answer(200, result)
    return json_response(answer.body, answer.status, answer.headers or None)


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
    from shared.platform.errors import UserError, http_answer, log_unexpected

    if isinstance(error, UserError):
        answer = http_answer(error)
        if answer.status >= 500:
            log.error("%s: %s", where, error.message, exc_info=error)
        return answer
    return http_answer(error, log_unexpected(log, error, where))  # the one place unexpected errors become an answer
