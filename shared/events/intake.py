"""Webhook intake: accept a delivery fast, then classify it and start its run from the push queue.

`receive` runs inside the HTTP request (GitHub gives up after 10 s): size and authenticity checks,
a cheap parse to drop what never starts a run (tags, deletions, other branches), de-duplication by
delivery id (a create-if-absent record `hooks/<provider>/<delivery>.json`), and one queue message.
`process` runs from the queue: route the changed paths, start the run (or park it until CI passes),
or apply a CI outcome to the runs waiting for that commit. A message that keeps failing is poisoned
on its last delivery with the error (`give_up`), which its delivery record keeps too.

A push starts at most one run per repository, branch and commit range (before..after), whatever the
delivery id says: the delivery header is not signed, so a validly signed push replayed under a new
`X-GitHub-Delivery` (or an Azure DevOps push resent with a new `id`) must not run again. The run id is
derived from that content (`push_run_id`); a delivery whose run exists already is answered "duplicate
push" and recorded nowhere, and a race between two is settled by the run record's create-if-absent.
A record that was created but whose queue message was lost is re-sent when the provider redelivers;
that is safe for the same reason.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from shared.chain import runs
from shared.chain.states import RunStatus
from shared.events import ci_wait, routing, webhooks
from shared.events.ci_wait import Outcome
from shared.events.webhooks import CiOutcome, Ignored, Push
from shared.platform import bodies, dequeue, names, tracing
from shared.platform.errors import Answer, BadRequest, ConditionFailed, InvalidMessage, Unauthorized
from shared.platform.settings import Settings
from shared.platform.storage import Storage

log = logging.getLogger(__name__)


def record_name(provider: str, delivery: str) -> str:
    return f"{provider}/{delivery}.json"


def receive(
    storage: Storage,
    settings: Settings,
    provider: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime | None = None,
) -> Answer:
    """Check, de-duplicate and enqueue one webhook delivery; the answer says what happened.

    Raises PayloadTooLarge, Unauthorized (nothing is read or run) or BadRequest (PayloadError)."""
    now = now or datetime.now(timezone.utc)
    limits = bodies.webhook_limits(settings)
    bodies.check_size(len(body), limits)
    _authenticate(settings, provider, headers, body)
    payload = bodies.parse_json(body, limits, "set the webhook content type to application/json")
    if not isinstance(payload, dict):
        raise BadRequest("body must be a JSON object.")
    event: webhooks.Event
    if provider == webhooks.GITHUB:
        kind, delivery = webhooks.github_event(headers)
        if kind == "ping":
            return Answer(200, {"status": "pong", "delivery": delivery})
        event = webhooks.parse_github(kind, delivery, payload, settings.branches)
    else:
        kind, delivery, created = webhooks.ado_delivery(payload)
        if created is not None and abs((now - created).total_seconds()) > settings.webhook_max_age_seconds:
            raise BadRequest(f"delivery {delivery} was created at {created.isoformat()}, more than "
                             f"{settings.webhook_max_age_seconds} s ago (DRIFTLINE_WEBHOOK_MAX_AGE_SECONDS).")
        event = webhooks.parse_ado(kind, delivery, payload, settings.branches)
    if isinstance(event, Ignored):
        return Answer(200, {"status": "ignored", "reason": event.reason})
    return _accept(storage, provider, event, now)


def _authenticate(settings: Settings, provider: str, headers: Mapping[str, str], body: bytes) -> None:
    if provider == webhooks.GITHUB:
        secret, setting = settings.github_secret, "DRIFTLINE_GITHUB_SECRET"
        authentic = webhooks.github_authentic(secret, body, headers)
        problem = "X-Hub-Signature-256 is missing or does not match the body"
    else:
        secret, setting = settings.ado_secret, "DRIFTLINE_ADO_SECRET"
        authentic = webhooks.ado_authentic(secret, headers)
        problem = "basic-auth password or X-Driftline-Secret is missing or wrong"
    if not secret:
        log.error("refused a %s webhook: %s is not set, so no delivery can be verified", provider, setting)
        raise Unauthorized(f"webhooks are disabled: {setting} is not configured on the app.")
    if not authentic:
        log.warning("refused a %s webhook: %s", provider, problem)
        raise Unauthorized(f"{problem}.")


def push_run_id(push: Push) -> str:
    """The one run a push may start: derived from what was pushed, not from the delivery."""
    return runs.run_id_for("push", push.provider, push.repository, push.branch, push.before, push.after)


def _accept(storage: Storage, provider: str, event: Push | CiOutcome, now: datetime) -> Answer:
    kind = "push" if isinstance(event, Push) else "ci"
    name = record_name(provider, event.delivery)
    record = {"provider": provider, "kind": kind, "event": asdict(event), "received": now.isoformat(),
              "state": "received"}
    ids: dict[str, str] = {}
    if isinstance(event, Push):
        ids["run_id"] = record["run_id"] = push_run_id(event)
        ids["run"] = f"/api/runs/{ids['run_id']}"
        if runs.get_run(storage, ids["run_id"]) is not None and not storage.exists(names.HOOKS, name):
            log.warning("%s delivery %s replays push %s..%s to %s: its run exists, nothing starts", provider,
                        event.delivery, event.before[:7], event.after[:7], event.branch)
            return Answer(200, {"status": "duplicate push", "delivery": event.delivery, **ids})
    message = {"provider": provider, "delivery": event.delivery}
    trace = tracing.current_traceparent()  # the delivery's span: the run continues its trace
    if trace:
        message["trace"] = trace
    try:
        storage.create_json(names.HOOKS, name, record)
    except ConditionFailed:
        existing = storage.read_json(names.HOOKS, name)
        if existing is not None and existing.value.get("state") == "received":
            storage.send(names.PUSH_QUEUE, message)  # the first message may have been lost
        return Answer(200, {"status": "duplicate delivery", "delivery": event.delivery, **ids})
    storage.send(names.PUSH_QUEUE, message)
    return Answer(202, {"status": "accepted", "delivery": event.delivery, "kind": kind, **ids})


# -- from the push queue --------------------------------------------------------------------------


def process(storage: Storage, settings: Settings, body: str) -> Outcome:
    """Handle one push-queue message. Raises InvalidMessage for a message that cannot be handled
    (the trigger poisons it), and routing.RoutingError when the routing file is broken."""
    try:
        message = json.loads(body)
        provider, delivery = message["provider"], message["delivery"]
    except (json.JSONDecodeError, TypeError, KeyError, RecursionError):
        raise InvalidMessage("push message must be JSON with provider and delivery.") from None
    if provider not in webhooks.PROVIDERS:
        raise InvalidMessage(f"unknown provider {provider!r}.")
    document = storage.read_json(names.HOOKS, record_name(provider, delivery))
    if document is None:
        raise InvalidMessage(f"no record of {provider} delivery {delivery}.")
    record: dict[str, Any] = document.value
    trace = message.get("trace") if isinstance(message.get("trace"), str) else None
    if record["kind"] == "push":
        with tracing.event_span("driftline push", trace, "consumer", {"driftline.delivery": str(delivery)}):
            outcome = _start(storage, settings, Push(**{**record["event"], "commits": tuple(record["event"]["commits"]),
                                                        "changed": _tuple(record["event"]["changed"])}))
    else:
        outcome = ci_wait.apply(storage, settings, CiOutcome(**record["event"]))
    storage.update_json(names.HOOKS, record_name(provider, delivery),
                        lambda r: {**(r or record), "state": "processed", "outcome": asdict(outcome)})
    return outcome


def give_up(storage: Storage, body: str, error: Exception, attempts: int) -> str:
    """The last delivery of a push-queue message failed too: poison it with the error, which is also
    kept on the delivery's record (state "poisoned"); returns the reason."""
    reason = (f"{type(error).__name__}: {error} on each of {attempts} deliveries (maxDequeueCount "
              f"{dequeue.max_dequeue_count()}); the message is in {names.PUSH_QUEUE}-poison.")
    runs.poison(storage, names.PUSH_QUEUE, body, reason)
    message = json.loads(body)  # it parsed before the error, or it would have been poisoned as invalid
    if webhooks.DELIVERY_ID.match(str(message["delivery"])):  # a name a path can hold
        storage.update_json(names.HOOKS, record_name(message["provider"], message["delivery"]),
                            lambda r: {**(r or {}), "state": "poisoned", "reason": reason}, create=False)
    return reason


def _start(storage: Storage, settings: Settings, push: Push) -> Outcome:
    changed, rules, unlisted = _routing_inputs(storage, settings, push)
    decision = routing.classify(changed, rules)
    reason = decision.reason if changed is not None else f"{unlisted}; {decision.reason}"
    if decision.plan is None:
        log.info("push %s to %s starts nothing: %s", push.after[:7], push.branch, reason)
        return Outcome(push.delivery, "nothing", reason)
    run_id = push_run_id(push)
    waiting = settings.wait_for_ci
    trigger = {"kind": "push", "provider": push.provider, "repository": push.repository,
               "branch": push.branch, "commit": push.after, "delivery": push.delivery}
    payload = {"commit": push.after, "routing": {k: len(v) for k, v in decision.matched.items()}}
    _, created = runs.start_run(storage, plan=decision.plan, model=settings.model_name, trigger=trigger,
                                reason=f"push {push.after[:7]} to {push.branch}: {reason}", payload=payload,
                                run_id=run_id, status=RunStatus.WAITING if waiting else RunStatus.RUNNING)
    if not created:
        return Outcome(push.delivery, "duplicate", f"push {push.before[:7]}..{push.after[:7]} started run "
                                                   f"{run_id} already", (run_id,))
    if waiting:
        ci_wait.park(storage, settings, push.after, run_id)
        return Outcome(push.delivery, "waiting", f"{decision.plan} run waits for CI on {push.after[:7]}", (run_id,))
    return Outcome(push.delivery, "started", f"{decision.plan} run: {reason}", (run_id,))


def _routing_inputs(storage: Storage, settings: Settings,
                    push: Push) -> tuple[tuple[str, ...] | None, routing.Rules, str]:
    """The changed paths and the rules a push is routed by: the code source fills in paths the payload
    could not list (Azure DevOps never lists them, GitHub truncates), and the pushed commit's own
    driftline.toml [routing] replaces routing.toml when it has one. The snapshot fetched here is the one
    the run's fetch step finds (a commit is fetched once). A snapshot or driftline.toml that cannot be
    read leaves routing.toml in charge; the run's fetch step then stops the run with the reason."""
    from shared.repo.archives import SnapshotError, snapshot_limits
    from shared.repo.config import RepoConfigError, load_config
    from shared.repo.snapshots import ensure_snapshot
    from shared.repo.sources import code_source
    from shared.repo.workspace import checkout, repository_key

    rules = routing.load_rules(settings.routing_file)
    source = code_source(settings)
    if source is None:
        return push.changed, rules, push.unlisted
    changed, unlisted = push.changed, push.unlisted
    if changed is None:
        changed = source.changed_paths(push.before, push.after)
        unlisted = f"{push.unlisted}; {source.name} could not list them either" if changed is None else ""
    try:
        snapshot = ensure_snapshot(storage, source, repository_key(source), push.after, snapshot_limits(settings))
        config = load_config(checkout(storage, snapshot))
    except (SnapshotError, RepoConfigError) as error:
        log.warning("push %s routed by %s: %s", push.after[:7], rules.source, error)
        return changed, rules, unlisted
    if config.routing is not None:  # its globs were checked as routing.toml's are (shared.repo.globs)
        section = config.routing
        rules = routing.compile_rules({"training": section.training, "app": section.app,
                                       "ignore": section.ignore}, f"driftline.toml of {push.after[:7]}")
    return changed, rules, unlisted


def _tuple(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)
