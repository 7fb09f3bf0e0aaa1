"""The operator page: a FastAPI app that the plugin mounts in the Airflow API server.

Everything it serves sits behind Airflow's own sign-in and permissions: each request must carry
the Airflow session (the UI's cookie, or a bearer token), and the user must be allowed to read
the import DAG's runs. A browser that is not signed in is sent to Airflow's login page and back.

Pages link to each other relatively, so the app works under any mount point and behind a proxy.
Reports and Data Docs are read from the landing store on each request (local, S3 or SFTP), so
nothing else needs to serve them.
"""

from __future__ import annotations

import logging
from contextlib import closing
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from include.course_records import assign, db, landing, operations, pages, settings

log = logging.getLogger(__name__)

# Pages of our own: scripts and styles only from this app, never framed by another site.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'self'; "
                               "base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
# Data Docs pages carry GX's inline scripts and styles, but may load nothing from elsewhere.
DATA_DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self' 'unsafe-inline' data:; frame-ancestors 'self'; "
                               "form-action 'none'",
    "X-Content-Type-Options": "nosniff",
}
# Raw report files quote the file's values: shown as data, never run as a page.
RAW_HEADERS = {"Content-Security-Policy": "sandbox; default-src 'none'", "X-Content-Type-Options": "nosniff"}
ASSETS = {"ops.css": "text/css; charset=utf-8", "ops.js": "text/javascript; charset=utf-8"}
BATCHES_PER_PAGE = 50


class SignInRequired(Exception):
    """No Airflow session on a request a browser made: send it to the login page."""


async def _user(request: Request):
    """The signed-in Airflow user (same resolution as Airflow's own API: bearer token, else the
    UI's session cookie)."""
    from airflow.api_fastapi.core_api.security import bearer_scheme, get_user

    credentials = await bearer_scheme(request)
    try:
        return await get_user(request, None, credentials)
    except HTTPException as exc:
        if exc.status_code == status.HTTP_401_UNAUTHORIZED and request.method in ("GET", "HEAD"):
            raise SignInRequired from None
        raise


async def require_reader(request: Request) -> None:
    """Allowed: whoever may read the import DAG's runs (their reports are what this app shows)."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity, DagDetails

    user = await _user(request)
    allowed = get_auth_manager().is_authorized_dag(
        method="GET", access_entity=DagAccessEntity.RUN, details=DagDetails(id=settings.IMPORT_DAG_ID), user=user)
    if not allowed:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "reading course record imports is not allowed for this user")


def _login_redirect(request: Request, _exc: Exception) -> RedirectResponse:
    from airflow.api_fastapi.app import API_ROOT_PATH

    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{API_ROOT_PATH}api/v2/auth/login?next={quote(here, safe='/')}",
                            status_code=status.HTTP_303_SEE_OTHER)


def _not_found(request: Request, exc: Exception) -> HTMLResponse:
    return _page("not_found.html", request, depth=_depth(request), status_code=404, message=str(exc))


def _depth(request: Request) -> int:
    """How many folders below the app's root this page is (for relative links)."""
    inner = request.url.path[len(request.scope.get("root_path", "")):]
    return max(inner.count("/") - 1, 0)


def _page(template: str, request: Request, *, depth: int, status_code: int = 200, **values) -> HTMLResponse:
    root = "../" * depth or "./"
    html = pages.render(template, root=root, airflow=root + "../", unlock_dag=settings.UNLOCK_DAG_ID,
                        import_dag=settings.IMPORT_DAG_ID, **values)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def create_app() -> FastAPI:
    app = FastAPI(title="Course record imports", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(require_reader)])
    app.add_exception_handler(SignInRequired, _login_redirect)
    app.add_exception_handler(operations.NotFound, _not_found)

    @app.get("/", response_class=HTMLResponse)
    def overview(request: Request, page: int = 1, status_filter: str | None = None) -> HTMLResponse:
        page = max(page, 1)
        landing_url = operations.landing_url()
        held = operations.current_lock()
        with closing(db.connect()) as conn:
            batches = operations.recent_batches(conn, limit=BATCHES_PER_PAGE + 1,
                                                offset=(page - 1) * BATCHES_PER_PAGE, status=status_filter or None)
            held_records = assign.held_counts(conn)
            try:
                waiting, landing_error = operations.waiting_files(conn, landing.landing_root(landing_url)), None
            except OSError as exc:  # the page still shows the lock and the batches
                waiting, landing_error = [], f"{exc.__class__.__name__}: {exc}"
        return _page("overview.html", request, depth=0, lock=held, waiting=waiting, landing_error=landing_error,
                     held_records=held_records, assign_dag=settings.ASSIGN_DAG_ID,
                     landing_url=landing_url, batches=batches[:BATCHES_PER_PAGE], page=page,
                     more=len(batches) > BATCHES_PER_PAGE, status_filter=status_filter or "")

    @app.get("/batches/{batch}", response_class=HTMLResponse)
    def batch_page(request: Request, batch: str) -> HTMLResponse:
        with closing(db.connect()) as conn:
            entry = operations.batch_entry(conn, batch)
        landing_url = operations.landing_url()
        return _page("batch.html", request, depth=1, entry=entry, summary=operations.summary(entry),
                     data_docs_page=operations.data_docs_page(entry, settings.data_docs_url(landing_url)))

    @app.get("/batches/{batch}/{name}")
    def report(batch: str, name: str) -> Response:
        with closing(db.connect()) as conn:
            entry = operations.batch_entry(conn, batch)
        content = operations.report_file(entry, name)
        headers = dict(RAW_HEADERS)
        if name.endswith(".csv"):
            headers["Content-Disposition"] = f'attachment; filename="{batch}-{name}"'
        return Response(content, media_type=operations.REPORT_FILES[name], headers=headers)

    @app.get("/data-docs")
    def data_docs_root() -> RedirectResponse:
        return RedirectResponse("data-docs/", status_code=status.HTTP_308_PERMANENT_REDIRECT)

    @app.get("/data-docs/{path:path}")
    def data_docs(path: str) -> Response:
        content, media = operations.site_file(settings.data_docs_url(operations.landing_url()), path)
        return Response(content, media_type=media, headers=DATA_DOCS_HEADERS)

    @app.get("/file-format", response_class=HTMLResponse)
    def file_format(request: Request) -> HTMLResponse:
        body = pages.markdown(operations.file_format_markdown())
        return _page("file_format.html", request, depth=0, body=body)

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name not in ASSETS:
            raise operations.NotFound(name)
        content = (pages.TEMPLATES.parent / "static" / name).read_bytes()
        return Response(content, media_type=ASSETS[name], headers={"X-Content-Type-Options": "nosniff"})

    return app
