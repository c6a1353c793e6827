"""devhost: a local runner for the Driftline function app (a stand-in for `func start`).

It imports an `azure.functions.FunctionApp`, reads each function's binding metadata (the same
function.json the real host receives from the Python worker) and drives the triggers against
Azurite or any storage account reachable by connection string:

- HTTP triggers on a ThreadingHTTPServer under /api (routePrefix from host.json);
- queue triggers with host.json `extensions.queues` (batching, backoff, visibility, poison queue);
- blob triggers by container scan with receipts in `azure-webjobs-hosts`, or EventGrid webhook;
- timer triggers from NCRONTAB schedules (run_on_startup, past_due, schedule monitor);
- queue, blob and HTTP output bindings, blob input bindings.

Programmatic use (tests, demos)::

    from devhost import Host
    with Host(app, {"AzureWebJobsStorage": conn}, port=0) as host:
        requests.get(f"{host.url}/api/health")
        host.wait_idle(30)

Command line: `python -m devhost --help`.
"""

from devhost.config import HostConfig, load_local_settings
from devhost.errors import BindingError, HostError
from devhost.host import Host

__all__ = ["Host", "HostConfig", "BindingError", "HostError", "load_local_settings"]
