"""The OpenAPI document: what Litestar generates from the routes, completed with what it cannot see.

Litestar documents the success response of each route and, for routes with parameters, a 400 in its own
error shape. Our errors all have one body (`errors.error_response`) and come from our dependencies and use
cases, so they are added here by rule: an API key (`actor`) → 401, 403, 429; a path parameter → 404; a
query parameter → 422; a JSON body (`data`) → 400, 413, 422. Routes add the statuses only they answer with (409 on
a name taken, 415 on an upload) and describe a body they read themselves with `documented(...)`. Routes
without `actor` need no API key, which the document says (`security: []`), and request bodies refuse
unknown fields (`Strict`), which it says too (`additionalProperties: false`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import msgspec
from litestar import Litestar
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    Reference,
    RequestBody,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute
from litestar.typing import FieldDefinition

from entrypoints.http.errors import ERROR_DESCRIPTIONS, ERROR_SCHEMA
from entrypoints.http.schemas.common import Strict

ERROR_COMPONENT = "Error"
_COMPONENT_REF = "#/components/schemas/{name}"
_OPT_ERRORS = "openapi_errors"
_OPT_BODY = "openapi_request_body"
_OPT_PARAMETERS = "openapi_parameters"
_OPT_MODELS = "openapi_models"

_AUTHENTICATED = (401, 403, 429)
_PATH_PARAMETER = (404,)
_QUERY_PARAMETER = (422,)
_JSON_BODY = (400, 413, 422)


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Meta Chat Platform API",
        version="0.1.0",
        description="Multi-tenant AI assistants on WhatsApp, Messenger and web chat.",
        path="/api/docs",
        render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        components=Components(
            security_schemes={
                "bearer": SecurityScheme(type="http", scheme="bearer", description="API key"),
                "apiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            }
        ),
        security=[{"bearer": []}, {"apiKey": []}],
    )


def documented(
    *errors: int,
    body: RequestBody | None = None,
    parameters: tuple[Parameter, ...] = (),
    models: tuple[type, ...] = (),
) -> dict[str, Any]:
    """A route handler's `opt`: error statuses only it answers with, and a body, headers or query parameters
    it reads itself (Litestar documents its handler's arguments, not what it reads from `request`), with
    the types (structs, attrs classes) that the document refers to as `#/components/schemas/<name>` but no
    handler argument names (see `model_ref`)."""
    return {_OPT_ERRORS: errors, _OPT_BODY: body, _OPT_PARAMETERS: parameters, _OPT_MODELS: models}


def model_ref(model: type) -> Reference:
    return Reference(_COMPONENT_REF.format(name=model.__name__))


def json_body(description: str) -> RequestBody:
    """A JSON object the handler reads itself, described in words (Meta's payloads)."""
    return RequestBody(
        content={"application/json": OpenAPIMediaType(schema=Schema(type=OpenAPIType.OBJECT))},
        description=description,
        required=True,
    )


@attrs.frozen
class PlainOperation:
    """An operation served ahead of Litestar's handlers (so not in what it generates), public and without a
    JSON body Litestar would decode: `opt` is `documented(...)`, as a handler's would be."""

    path: str
    method: str
    operation: Operation
    opt: dict[str, Any]


def complete_openapi(app: Litestar, plain_operations: tuple[PlainOperation, ...] = ()) -> None:
    """Called once the routes are registered, before the document is first served."""
    openapi = app.openapi_schema
    models: set[type] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path_format not in (openapi.paths or {}):
            continue
        path_item = (openapi.paths or {})[route.path_format]
        for handler in route.route_handlers:
            if not handler.resolve_include_in_schema():
                continue
            for method in handler.http_methods:
                operation: Operation | None = getattr(path_item, method.lower(), None)
                if operation is not None:
                    signature = handler.parsed_fn_signature.parameters
                    _complete_operation(
                        operation, handler.opt, authenticated="actor" in signature, data=signature.get("data")
                    )
            models.update(handler.opt.get(_OPT_MODELS, ()))
    if openapi.paths is None:
        openapi.paths = {}
    for plain in plain_operations:
        setattr(openapi.paths.setdefault(plain.path, PathItem()), plain.method, plain.operation)
        _complete_operation(plain.operation, plain.opt, authenticated=False, data=None)
        models.update(plain.opt.get(_OPT_MODELS, ()))
    components = openapi.components
    schemas: dict[str, Any] = dict(components.schemas or {})
    for name in _strict_names():
        if name in schemas:
            schemas[name].additional_properties = False
    # Types no handler argument names: msgspec's JSON Schema of them (a dict serialises like a Schema).
    _, extra = msgspec.json.schema_components(
        sorted(models, key=lambda model: model.__name__), ref_template=_COMPONENT_REF
    )
    schemas.update({name: schema for name, schema in extra.items() if name not in schemas})
    schemas[ERROR_COMPONENT] = ERROR_SCHEMA
    components.schemas = schemas


def _complete_operation(
    operation: Operation, opt: dict[str, Any], *, authenticated: bool, data: FieldDefinition | None
) -> None:
    if opt.get(_OPT_BODY) is not None:
        operation.request_body = opt[_OPT_BODY]
    statuses = set(opt.get(_OPT_ERRORS, ()))
    if authenticated:
        statuses.update(_AUTHENTICATED)
    else:
        # No API key needed: overrides the document-wide requirement.
        operation.security = []
    read_by_handler: tuple[Parameter, ...] = opt.get(_OPT_PARAMETERS, ())
    if read_by_handler:
        operation.parameters = [*(operation.parameters or []), *read_by_handler]
    places = {parameter.param_in for parameter in operation.parameters or [] if isinstance(parameter, Parameter)}
    if "path" in places:
        statuses.update(_PATH_PARAMETER)
    if "query" in places:
        # Also for query parameters the handler reads itself: a NUL in any of them is refused first.
        statuses.update(_QUERY_PARAMETER)
    if data is not None:
        statuses.update(_JSON_BODY)
        if data.has_default and isinstance(operation.request_body, RequestBody):
            # `data: ... = None`: the body may be left out (Litestar marks every body required).
            operation.request_body.required = False
    # Litestar's own 4xx entries describe its error body, not ours: replaced by the statuses above.
    responses = {code: response for code, response in (operation.responses or {}).items() if not code.startswith("4")}
    for status in sorted(statuses):
        responses[str(status)] = OpenAPIResponse(
            description=ERROR_DESCRIPTIONS[status],
            content={
                "application/json": OpenAPIMediaType(schema=Reference(_COMPONENT_REF.format(name=ERROR_COMPONENT)))
            },
        )
    operation.responses = dict(sorted(responses.items()))


def _strict_names() -> Iterator[str]:
    pending = list(Strict.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        yield cls.__name__
