"""`./driftline start [--demo]`: Azurite and the app, running locally; optionally the demo on top.

- local.settings.json is created from local.settings.example.json when missing;
- every setting is checked first (shared/jobs/startup.py): a bad one stops here, named with the form
  expected, before Azurite or the app start;
- Azurite starts on its default ports with its data under `.azurite/` (reused if already running);
- the app runs under `func start` when Azure Functions Core Tools is on PATH, else under devhost;
- with --demo, the end-to-end demo (devtools/demo.py) drives the running app over HTTP and storage,
  then the app keeps running until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

from devtools.azurite import DEFAULT_ENDPOINTS, ROOT, Azurite, is_running

SETTINGS = ROOT / "local.settings.json"
EXAMPLE = ROOT / "local.settings.example.json"


def say(text: str) -> None:
    print(f"\033[1m[driftline]\033[0m {text}", flush=True)


def ensure_local_settings() -> dict[str, str]:
    if not SETTINGS.exists():
        shutil.copyfile(EXAMPLE, SETTINGS)
        say("created local.settings.json from local.settings.example.json (git-ignored; edit it freely)")
    return json.loads(SETTINGS.read_text())["Values"]


def settings_problem(env: dict[str, str]) -> str | None:
    """What is wrong with the app's settings (the first bad one, named, with the form expected), or None."""
    from shared.jobs.startup import check
    from shared.platform.errors import SettingsError

    try:
        check(env)
    except SettingsError as error:
        return str(error)
    return None


def wait_for_http(url: str, timeout: float, process: subprocess.Popen) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the app exited during start-up (exit code {process.returncode})")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the app did not answer {url} within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="./driftline start", description=__doc__.splitlines()[0])
    parser.add_argument("--demo", action="store_true", help="run the end-to-end demo on the bundled sample data")
    parser.add_argument("--port", type=int, default=7071)
    parser.add_argument("--devhost", action="store_true", help="use devhost even when `func` is installed")
    parser.add_argument("--exit", action="store_true", help="stop everything after the demo instead of staying up")
    args = parser.parse_args(argv)

    # SIGTERM (a supervisor, `kill`) unwinds like Ctrl-C, so the app and Azurite are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    values = ensure_local_settings()
    extra = {}
    if args.demo:
        from devtools.demo import demo_settings

        extra = demo_settings()
    problem = settings_problem({**values, **extra, **os.environ})
    if problem is not None:
        say(f"not starting: {problem} (local.settings.json or the environment)")
        return 2
    azurite = None
    if is_running(DEFAULT_ENDPOINTS):
        say("Azurite is already running on 10000-10002; using it")
    else:
        azurite = Azurite(ROOT / ".azurite", DEFAULT_ENDPOINTS).start()
        say(f"Azurite started (data in .azurite/, log {azurite.log.relative_to(ROOT)})")

    func = shutil.which("func")
    if func and not args.devhost:
        command = [func, "start", "--port", str(args.port)]
        say("starting the app with Azure Functions Core Tools (func start)")
    else:
        command = [sys.executable, "-m", "devhost", "--port", str(args.port)]
        say("Core Tools not found; starting the app with devhost, the project's local runner")
    env = {**values, **extra, **os.environ}
    app = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        base = f"http://127.0.0.1:{args.port}"
        wait_for_http(f"{base}/api/health", 120, app)
        say(f"app is up: {base}/api/health")
        if args.demo:
            from devtools.demo import run_demo

            os.environ.update({k: v for k, v in values.items() if k not in os.environ})
            run_demo(base)
            if args.exit:
                return 0
        say("running; press Ctrl-C to stop")
        app.wait()
        return app.returncode
    except KeyboardInterrupt:
        return 0
    finally:
        if app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
        if azurite is not None:
            azurite.stop()
            say("Azurite stopped")


if __name__ == "__main__":
    sys.exit(main())
