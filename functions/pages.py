"""Pages: server-rendered HTML of what serves, runs, models and drift reports (function-key auth).

Thin routes: each reads its page's data (`shared.pages.data`) and renders it (`shared.pages.render`)
through `functions.answers.respond_html`, so a bad or unknown id answers 400 / 404 as an HTML page with
the reason. The function key given as `?code=` is carried in every link between the pages.
"""

from collections.abc import Callable

import azure.functions as func

from functions.answers import respond_html

bp = func.Blueprint()


@bp.function_name("page_overview")
@bp.route(route="pages", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def page_overview(req: func.HttpRequest) -> func.HttpResponse:
    def call(storage, settings, links):
        from shared.pages import data, render

        return render.overview_page(data.overview(storage, settings), links)

    return _page(req, "page_overview", call)


@bp.function_name("page_run")
@bp.route(route="pages/runs/{run_id}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def page_run(req: func.HttpRequest) -> func.HttpResponse:
    def call(storage, settings, links):
        from shared.pages import data, render

        return render.run_page(data.run_page(storage, settings, req.route_params["run_id"]), links)

    return _page(req, "page_run", call)


@bp.function_name("page_model")
@bp.route(route="pages/models/{name}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def page_model(req: func.HttpRequest) -> func.HttpResponse:
    def call(storage, settings, links):
        from shared.pages import data, render

        return render.model_page(data.model_page(storage, req.route_params["name"]), links)

    return _page(req, "page_model", call)


@bp.function_name("page_drift_report")
@bp.route(route="pages/reports/{name}/{report}", methods=["GET"], auth_level=func.AuthLevel.FUNCTION)
def page_drift_report(req: func.HttpRequest) -> func.HttpResponse:
    def call(storage, settings, links):
        from shared.pages import data

        return data.drift_report_html(storage, req.route_params["name"], req.route_params["report"])

    return _page(req, "page_drift_report", call)


def _page(req: func.HttpRequest, where: str, call: Callable) -> func.HttpResponse:
    from shared.pages import render
    from shared.platform import context

    links = render.Links(req.params.get("code"))
    return respond_html(where, lambda: call(context.storage(), context.settings(), links),
                        lambda status, body: render.error_page(status, body, links),
                        {"Content-Security-Policy": render.CSP, "X-Content-Type-Options": "nosniff",
                         "Cache-Control": "no-store"})
