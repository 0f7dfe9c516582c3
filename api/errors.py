"""Every error the API answers is a JSON body ``{"code", "message", ...}`` with a stable
``code``; this module maps the library's exceptions and FastAPI's own errors onto it."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.routing import Match

from api.schemas import PATTERN_HINTS
from recsys.catalog import InvalidNameError
from recsys.exclusions import ExclusionError
from recsys.search import UnknownSongError
from recsys.user_index import UnknownUserError

logger = logging.getLogger(__name__)

# Codes for Starlette's own HTTP errors (unknown route, wrong method...).
_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "body_too_large",
               401: "unauthorized"}


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


class ApiError(Exception):
    """An error to answer as ``status`` with ``{"code", "message", **extra}``."""

    def __init__(self, status: int, code: str, message: str, **extra) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


def error_response(status: int, code: str, message: str, headers: dict | None = None,
                   **extra) -> JSONResponse:
    return JSONResponse({"code": code, "message": message, **extra}, status_code=status,
                        headers=headers)


def _field(loc: tuple) -> str:
    """('query', 'k') -> 'k'; ('body', 'positive', 0, 'song') -> 'positive.0.song'."""
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("query", "path", "body",
                                                           "header") else [str(p) for p in loc]
    return ".".join(parts) or "body"


async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
    broken = [e for e in error.errors() if e.get("type") == "json_invalid"]
    if broken:  # not JSON at all: the body cannot be parsed, whatever it holds
        return error_response(400, "bad_request", f"body: not valid JSON "
                              f"({broken[0].get('ctx', {}).get('error', 'malformed')})")
    problems = [{"field": _field(tuple(e["loc"])), "message": _message(e)}
                for e in error.errors()]
    first = problems[0] if problems else {"field": "body", "message": "invalid request"}
    return error_response(422, "invalid_parameter", f"{first['field']}: {first['message']}",
                          field=first["field"], errors=problems)


def _message(error: dict) -> str:
    """Pydantic's message, except that a missed pattern says what was expected in words."""
    if error.get("type") == "string_pattern_mismatch":
        return PATTERN_HINTS.get(error.get("ctx", {}).get("pattern"), error["msg"])
    return error["msg"]


async def _api_error(_: Request, error: ApiError) -> JSONResponse:
    extra = dict(error.extra)
    headers = extra.pop("headers", None)
    return error_response(error.status, error.code, error.message, headers=headers, **extra)


async def _unknown_song(_: Request, error: UnknownSongError) -> JSONResponse:
    return error_response(404, "song_not_found", str(error), suggestions=error.suggestions)


async def _invalid_name(_: Request, error: InvalidNameError) -> JSONResponse:
    return error_response(422, "invalid_parameter", f"song: {error}", field="song")


async def _unknown_user(_: Request, error: UnknownUserError) -> JSONResponse:
    return error_response(404, "user_not_found", str(error))


async def _exclusion(_: Request, error: ExclusionError) -> JSONResponse:
    extra = {"suggestions": error.suggestions} if error.suggestions else {}
    return error_response(422 if error.code == "invalid_parameter" else 404, error.code,
                          str(error), field=error.field, **extra)


async def _http(request: Request, error: HTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(error.status_code, HTTPStatus(error.status_code).phrase.lower()
                           .replace(" ", "_"))
    headers = getattr(error, "headers", None)
    if error.status_code == 405:
        headers = {**(headers or {}), "Allow": ", ".join(_allowed_methods(request))}
    return error_response(error.status_code, code, str(error.detail), headers=headers)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the request's path takes. Starlette's own 405 names only
    the first route that matched the path, so a path served by several routes (GET, POST
    and DELETE /users/{id}/exclusions) would claim to take one method. A path the schema
    names literally (POST /songs/arithmetic) has the methods the schema gives it, not those
    of routes that only match it through a parameter (GET /songs/{song_id}); any other path
    has every method a route takes it with (tried against the routes, which works through
    included routers too)."""
    literal = request.app.openapi()["paths"].get(request.url.path)
    if literal is not None:
        return sorted(m.upper() for m in literal)
    allowed = []
    for method in _METHODS:
        scope = {"type": "http", "path": request.url.path, "method": method,
                 "root_path": request.scope.get("root_path", "")}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return allowed


async def _unexpected(_: Request, error: Exception) -> JSONResponse:
    logger.exception("unhandled error", exc_info=error)
    return error_response(500, "internal_error", f"internal error: {type(error).__name__}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownSongError, _unknown_song)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidNameError, _invalid_name)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownUserError, _unknown_user)  # type: ignore[arg-type]
    app.add_exception_handler(ExclusionError, _exclusion)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _unexpected)


def ask(call, code: str, status: int = 422):
    """Run a library call; its ValueError / KeyError (a song without a vector, a user without
    a profile, an unknown tag) becomes an ApiError with this code. Unknown songs and users
    keep their own 404 handlers."""
    try:
        return call()
    except (UnknownSongError, UnknownUserError, InvalidNameError):
        raise
    except (KeyError, ValueError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
        raise ApiError(status, code, str(message)) from None
