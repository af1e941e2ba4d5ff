"""One error door for the API: JSON with a clear message, never a traceback.

A failure we did not foresee answers 500 with a generic message and an error id; the
traceback goes to the log under that id, so a student can quote it and an instructor
find it, while nothing of the server's internals (paths, exception texts) leaves.
"""

from __future__ import annotations

import secrets

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
            return jsonify(error=e.name), e.code
        return e

    @app.errorhandler(Exception)
    def unexpected(e: Exception):  # type: ignore[no-untyped-def]
        error_id = secrets.token_hex(4)
        app.logger.error("error %s on %s %s", error_id, request.method, request.path, exc_info=e)
        return jsonify(error=f"internal error (id {error_id}): see the server's log"), 500
