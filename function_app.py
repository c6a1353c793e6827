"""The Driftline function app: registers one blueprint per event source, and checks the settings once
(a bad one is logged at ERROR naming it; see functions/startup.py)."""

import azure.functions as func

from functions import api, chain, decisions, lake, pages, startup, timers, webhooks

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)

for blueprint in (webhooks.bp, lake.bp, timers.bp, chain.bp, decisions.bp, api.bp, pages.bp):
    app.register_functions(blueprint)

startup.check_at_indexing()
