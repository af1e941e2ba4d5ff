"""One error door for the API: JSON with a clear message, never a traceback."""

from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException


class APIError(Exception):
    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def init_app(app: Flask) -> None:
    @app.errorhandler(APIError)
    def api_error(e: APIError):  # type: ignore[no-untyped-def]
        return jsonify(error=e.message), e.status

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):  # type: ignore[no-untyped-def]
        if request.path.startswith("/api/"):
            return jsonify(error=e.description or e.name), e.code
        return e

    @app.errorhandler(Exception)
    def unexpected(e: Exception):  # type: ignore[no-untyped-def]
        app.logger.exception("unexpected error on %s", request.path)
        return jsonify(error=f"internal error: {type(e).__name__}: {e}"), 500
