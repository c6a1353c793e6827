"""Data-lake uploads: labeled data starts a retrain, incoming data is checked for drift.

The blob trigger source is chosen at import from DRIFTLINE_BLOB_SOURCE: LogsAndContainerScan
(polling; the default, and what runs locally) or EventGrid (required on Flex Consumption; the
infrastructure subscribes `on_labeled` and `on_incoming` to BlobCreated events). The handlers use
only the blob's name and ETag and stream the content from storage themselves, inside an event span
whose parent is the invocation's trace context, so a run an upload starts continues its trace.
"""

import azure.functions as func

from shared.platform import names
from shared.platform.settings import blob_source

bp = func.Blueprint()
SOURCE = func.BlobSource(blob_source())


@bp.function_name("on_labeled")
@bp.blob_trigger(arg_name="blob", path=f"{names.DATALAKE}/{names.LABELED_PREFIX}{{name}}",
                 connection="AzureWebJobsStorage", source=SOURCE)
def on_labeled(blob: func.InputStream, context: func.Context) -> None:
    _handle(blob, context)


@bp.function_name("on_incoming")
@bp.blob_trigger(arg_name="blob", path=f"{names.DATALAKE}/{names.INCOMING_PREFIX}{{name}}",
                 connection="AzureWebJobsStorage", source=SOURCE)
def on_incoming(blob: func.InputStream, context: func.Context) -> None:
    _handle(blob, context)


def _handle(blob: func.InputStream, invocation: func.Context) -> None:
    from shared.events import lake  # the core loads on first use, not at indexing
    from shared.platform import context, tracing

    # The worker's InputStream carries the blob's properties; the abstract type does not declare them.
    properties = getattr(blob, "blob_properties", None) or {}
    etag = properties.get("ETag") or properties.get("Etag")
    parent = getattr(getattr(invocation, "trace_context", None), "trace_parent", None)
    with tracing.event_span("driftline upload", parent, "consumer", {"driftline.blob": blob.name or ""}):
        lake.handle_upload(context.storage(), context.settings(), blob.name or "", etag)  # logs its outcome
