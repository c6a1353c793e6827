"""The operator CLI, `./driftline <command>` (also the `driftline` console script): uploads, runs,
approvals, models, promotion and rollback, drift reports, local training, reset.

It reads the app's settings (local.settings.json, then the environment, which wins) through
`shared.platform.settings`, talks to the HTTP API (`DRIFTLINE_API_URL`, `DRIFTLINE_FUNCTION_KEY`) and
to storage (`AzureWebJobsStorage`). A user error (bad input, app not reachable, a 4xx answer) is one
line on stderr and exit code 1, never a traceback. Imports nothing from `functions` or `devhost`.
"""
