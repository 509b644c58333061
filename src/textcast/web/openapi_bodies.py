"""Request bodies that a route reads itself, documented from pydantic models.

Some routes take a body whose forms the domain tells apart (a provider is
Twilio, a generic definition or a preset) and validate it there, naming the
field at fault. FastAPI would document such a body as a bare ``object``;
:func:`documented_body` gives the route the schema of its forms instead, and
:func:`install_bodies` adds the models to the document's components.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REF = "#/components/schemas/{model}"
_BODIES: dict[str, list[type[BaseModel]]] = {}


def documented_body(
    name: str, models: Sequence[type[BaseModel]], examples: Mapping[str, Any]
) -> dict[str, Any]:
    """``openapi_extra`` for a route whose JSON body is any one of ``models``."""
    _BODIES[name] = list(models)
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": REF.format(model=name)},
                    "examples": {
                        key: {"summary": key, "value": value} for key, value in examples.items()
                    },
                }
            },
        }
    }


def install_bodies(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every documented body's models to ``schema``'s components (in place)."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for name, models in _BODIES.items():
        refs, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
        components.update(top.get("$defs", {}))
        components[name] = {
            "title": name,
            "anyOf": [refs[(m, "validation")] for m in models],
        }
    return schema
