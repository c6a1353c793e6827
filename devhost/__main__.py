"""`python -m devhost`: run the function app locally against Azurite (a stand-in for `func start`).

    python -m devhost [--port 7071] [--settings local.settings.json] [--require-keys]
                      [--host-json host.json] [--app function_app:app] [--drain-timeout 30]

Ctrl-C or SIGTERM stops polling, lets invocations in flight finish (up to --drain-timeout
seconds), makes unfinished queue messages visible again, and exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from devhost.config import load_local_settings
from devhost.errors import HostError
from devhost.host import Host
from devhost.metadata import DEFAULT_APP, import_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=7071, help="HTTP port (default 7071; 0 picks a free one)")
    parser.add_argument("--settings", default="local.settings.json", help="local settings file (Values are loaded into the environment unless already set)")
    parser.add_argument("--require-keys", action="store_true", help="enforce FUNCTION/ADMIN auth levels (keys from DEVHOST_FUNCTION_KEY / DEVHOST_MASTER_KEY)")
    parser.add_argument("--host-json", default="host.json", help="host.json path (default ./host.json)")
    parser.add_argument("--app", default=DEFAULT_APP, help=f"module:attribute of the FunctionApp (default {DEFAULT_APP})")
    parser.add_argument("--drain-timeout", type=float, default=30.0, help="seconds to let invocations finish at shutdown")
    parser.add_argument("--blob-poll-interval", type=float, default=1.0, help="seconds between blob container scans")
    parser.add_argument("--verbose", action="store_true", help="debug logging")
    return parser.parse_args(argv)


class _Formatter(logging.Formatter):
    """`[time] message` like `func start`; warnings and errors say so."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        stamp = self.formatTime(record)
        level = f"{record.levelname}: " if record.levelno >= logging.WARNING else ""
        return f"[{stamp}] {level}{text}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_Formatter())
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, handlers=[handler])
    logging.getLogger("azure").setLevel(logging.WARNING)
    log = logging.getLogger("devhost")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait any longer
            log.warning("Received %s again: exiting now.", signal.Signals(signum).name)
            sys.stdout.flush()
            os._exit(1)
        log.info("Received %s: shutting down.", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        settings = load_local_settings(args.settings)
        os.environ.update(settings)  # before importing the app: its module code may read settings
        app = import_app(args.app, Path.cwd())
        host = Host(
            app,
            host_json=args.host_json,
            port=args.port,
            require_keys=args.require_keys,
            drain_timeout=args.drain_timeout,
            blob_poll_interval=args.blob_poll_interval,
        )
        host.start()
    except HostError as error:
        log.error("devhost: %s", error)
        return 1
    except Exception as error:  # storage unreachable, import error in the app, ...
        log.error("devhost: the host could not start: %s: %s", type(error).__name__, str(error).splitlines()[0] if str(error) else "")
        log.debug("start failure", exc_info=True)
        return 1
    while not stop.wait(0.5):
        pass
    stopper = threading.Thread(target=host.stop, name="stop", daemon=True)
    stopper.start()
    stopper.join(args.drain_timeout + 15)  # storage calls at shutdown are bounded too
    if stopper.is_alive():
        log.warning("devhost: shutdown did not complete in time; exiting anyway.")
    logging.shutdown()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    # Daemon threads of invocations that overran the drain time must not delay the exit.
    os._exit(code)
