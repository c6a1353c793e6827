#!/bin/sh
# azd prepackage hook: compile the app's own modules to bytecode, so the deployed package carries it.
# Flex Consumption runs the app from a read-only package, where Python cannot write bytecode, so
# without it every cold start compiles function_app.py, functions/ and shared/ from source
# (bench/cold_start.py measures both). checked-hash bytecode is used only while it matches its
# source's hash: a stale file is never run, whatever the timestamps a zip keeps. The tag must be the
# app's runtime (Python 3.11, infra/app/function.bicep); another interpreter's files are ignored
# by the worker, so with no 3.11 here the package ships without bytecode, as before.
set -eu
cd "$(dirname "$0")/../.."
for python in .venv/bin/python python3.11 python3; do
  if command -v "$python" >/dev/null 2>&1 && "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    exec "$python" -m compileall -q -j 0 --invalidation-mode checked-hash function_app.py functions shared
  fi
done
echo "prepackage: no Python 3.11 found; the package ships without bytecode (slower cold starts)" >&2
