"""Errors of console pages become pages, not problem+json.

The console reuses the API's dependencies (``current_actor``, ``require``) and services, which
raise :class:`~fleetcore.core.errors.Problem`. :class:`ConsoleRoute` turns them into what a
person needs: no or a bad session → the sign-in page (with the page to come back to), a missing
permission → a 403 page saying which, another tenant's or an unknown id → a 404 page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from fleetcore.core.auth import PermissionDenied, TenantRequired
from fleetcore.core.deps import SESSION_COOKIE
from fleetcore.core.errors import (
    DATABASE_UNAVAILABLE,
    Problem,
    ServiceUnavailable,
    Unauthorized,
    database_unavailable,
)
from fleetcore.web.i18n import _, begin_request, from_accept_language, use_locale
from fleetcore.web.rendering import is_htmx, redirect, render
from fleetcore.web.security import (
    CONSOLE_PATH,
    STAFF_PATH,
    clear_session_cookie,
    safe_next,
)

SIGN_IN_PATH = f"{CONSOLE_PATH}/sign-in"


def sign_in_redirect(request: Request, reason: str | None = None) -> Response:
    """Send the browser to the sign-in page, remembering where it was going."""
    if request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        referer = request.headers.get("referer", "")
        target = referer.split(str(request.base_url).rstrip("/"), 1)[-1] if referer else ""
    url = f"{SIGN_IN_PATH}?{urlencode({'next': safe_next(target)})}"
    if reason:
        url += "&expired=1"
    response: Response
    if is_htmx(request):
        response = Response(status_code=200, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if reason and SESSION_COOKIE in request.cookies:
        clear_session_cookie(request, response)
    return response



def error_page(request: Request, status_code: int, title: str, detail: str) -> Response:
    """An error page inside the console's layout."""
    return render(request, "error.html", status_code=status_code, title=title, detail=detail,
                  console=getattr(request.state, "console", None))


def problem_page(request: Request, problem: Problem) -> Response:
    """The page of a problem raised by a dependency or a service."""
    if isinstance(problem, Unauthorized):
        has_token = bool(request.cookies.get(SESSION_COOKIE))
        return sign_in_redirect(request, problem.detail if has_token else None)
    actor = getattr(request.state, "actor", None)
    if isinstance(problem, TenantRequired) and actor is not None and actor.is_provider \
            and request.method == "GET":
        # Staff with no fleet open land on their own pages, where they open one.
        return redirect(request, STAFF_PATH, flash=_("Open a fleet to work in it."))
    detail = problem.detail
    permission = problem.extensions.get("permission")
    if isinstance(problem, PermissionDenied) and isinstance(permission, str):
        # The API's sentence, in the console's language (the permission code stays as is).
        detail = _("This needs the permission '%(permission)s'.", permission=permission)
    return error_page(request, problem.status, _(problem.title), detail)


class ConsoleRoute(APIRoute):
    """A route whose problems are rendered as console pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def console_handler(request: Request) -> Response:
            begin_request()
            use_locale(from_accept_language(request.headers.get("accept-language")) or "en")
            try:
                return await handler(request)
            except Problem as problem:
                return problem_page(request, problem)
            except DATABASE_UNAVAILABLE as exc:
                unavailable = database_unavailable(exc) or ServiceUnavailable("Unavailable.")
                page = error_page(request, 503, _("Back in a moment"),
                                  _("The console cannot reach its database right now (it may "
                                    "be restarting). Reload the page in a few seconds."))
                page.headers["Retry-After"] = str(unavailable.retry_after)
                return page
            except RequestValidationError as exc:
                # A malformed id in the path is a page that does not exist; a malformed
                # filter in the query string is a bad link.
                if any(e.get("loc", ("",))[0] == "path" for e in exc.errors()):
                    return error_page(request, 404, _("Not found"),
                                      _("There is no such page in this fleet."))
                return error_page(request, 400, _("Bad link"),
                                  _("This link has a value the console does not understand."))

        return console_handler
