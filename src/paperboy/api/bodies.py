"""JSON request bodies of the API's writes: read after the token is checked, parsed and validated in
the thread pool, refused with the first thing wrong.

FastAPI's own body parameters are read and parsed before anything else runs, on the event loop,
and a model that forbids extra fields reports every extra key: a 1.6 MB object of 130,000 keys
held the loop for 1.1 s (0.25 s building pydantic's error list, 0.24 s FastAPI copying it, the
rest parsing). Here an anonymous write is refused before its body is read, unknown keys are named
before validation (the first one, from a set difference), and what parsing is left — bounded by
``PAPERBOY_MAX_BODY_BYTES`` — never blocks other requests.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError
from pydantic_core import from_json
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from paperboy.errors import Invalid

__all__ = ["json_body", "documented"]

M = TypeVar("M", bound=BaseModel)


async def json_body(request: Request, model: type[M]) -> M:
    """The request's body as ``model``: 415 unless it is sent as JSON, 400 naming the first problem."""
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise HTTPException(415, "Send the body as JSON, with Content-Type: application/json.")
    body = await request.body()  # at most PAPERBOY_MAX_BODY_BYTES (web/limits.py)
    return await run_in_threadpool(parse, body, model)


def parse(body: bytes, model: type[M]) -> M:
    """``body`` (JSON bytes) validated as ``model``; :class:`~paperboy.errors.Invalid` says what is wrong."""
    try:
        data = from_json(body)
    except ValueError as e:
        raise Invalid(f"The body is not valid JSON ({e}).") from None
    if not isinstance(data, dict):
        raise Invalid(f"The body must be a JSON object with {_fields(model)}.")
    unknown = data.keys() - model.model_fields.keys()
    if unknown:
        raise Invalid(f"{min(unknown)}: not a field here (send {_fields(model)}).")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        first = e.errors(include_url=False, include_context=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Invalid(f"{where}: {first['msg']}" if where else first["msg"]) from None


def _fields(model: type[BaseModel]) -> str:
    return ", ".join(f'"{name}"' for name in model.model_fields)


def documented(model: type[BaseModel]) -> dict:
    """The ``openapi_extra`` of a route that reads ``model`` with :func:`json_body` (FastAPI sees no body parameter)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}
