"""OpenAPI documents of the request and response bodies the hot path parses by hand.

The handlers read raw bytes (no pydantic model per request), so FastAPI cannot infer the
bodies; these JSON schemas go into each route's ``openapi_extra`` / ``responses`` so ``/docs``
and ``/openapi.json`` still describe every protocol exactly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ERRORS", "body", "ok"]

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}},
}
_ROW = {"type": "object", "additionalProperties": True, "description": "column -> value"}
_RECORDS = {"type": "array", "items": _ROW, "minItems": 1}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"schema": _ERROR}}}
    for status, text in (
        (400, "invalid request (the message names the field)"),
        (401, "an API key is required"),
        (403, "the API key lacks the scope"),
        (404, "unknown model or version"),
        (409, "conflict"),
        (413, "request body over the size limit"),
        (415, "unsupported content type or charset"),
        (422, "data that does not fit the model's signature (the message names field and row)"),
        (503, "the model is not loaded yet"),
    )
}


def body(schema: dict[str, Any], *, csv: bool = False) -> dict[str, Any]:
    """``openapi_extra`` documenting a required JSON (and optionally CSV) request body."""
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    if csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


def ok(schema: dict[str, Any], description: str = "the answer") -> dict[int | str, Any]:
    """``responses`` with a documented 200 body plus every error answer."""
    return {
        200: {"description": description, "content": {"application/json": {"schema": schema}}},
        **ERRORS,
    }


_TENSOR = {
    "type": "object",
    "required": ["name", "shape", "datatype"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
        "datatype": {
            "type": "string",
            "enum": [
                "BOOL",
                "UINT8",
                "UINT16",
                "UINT32",
                "UINT64",
                "INT8",
                "INT16",
                "INT32",
                "INT64",
                "FP16",
                "FP32",
                "FP64",
                "BYTES",
            ],
        },
        "parameters": {"type": "object"},
        "data": {"type": "array"},
    },
}
_TENSOR_META = {
    "type": "object",
    "required": ["name", "datatype", "shape"],
    "properties": {
        "name": {"type": "string"},
        "datatype": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
    },
}
V2_REQUEST = {
    "type": "object",
    "required": ["inputs"],
    "properties": {
        "id": {"type": "string"},
        "parameters": {"type": "object"},
        "inputs": {"type": "array", "items": _TENSOR, "minItems": 1},
        "outputs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name"],
                "properties": {"name": {"type": "string"}},
            },
        },
    },
}
V2_RESPONSE = {
    "type": "object",
    "required": ["model_name", "outputs"],
    "properties": {
        "model_name": {"type": "string"},
        "model_version": {"type": "string"},
        "id": {"type": "string"},
        "outputs": {"type": "array", "items": _TENSOR},
    },
}
V2_METADATA = {
    "type": "object",
    "required": ["name", "platform", "inputs", "outputs"],
    "properties": {
        "name": {"type": "string"},
        "versions": {"type": "array", "items": {"type": "string"}},
        "platform": {"type": "string"},
        "inputs": {"type": "array", "items": _TENSOR_META},
        "outputs": {"type": "array", "items": _TENSOR_META},
    },
}
V2_SERVER = {
    "type": "object",
    "required": ["name", "version", "extensions"],
    "properties": {
        "name": {"type": "string"},
        "version": {"type": "string"},
        "extensions": {"type": "array", "items": {"type": "string"}},
    },
}
V2_MODEL_READY = {
    "type": "object",
    "required": ["name", "ready"],
    "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}},
}
LIVE = {"type": "object", "properties": {"live": {"type": "boolean"}}}
READY = {"type": "object", "properties": {"ready": {"type": "boolean"}}}
MLFLOW_REQUEST = {
    "type": "object",
    "description": "exactly one of dataframe_split, dataframe_records, instances, inputs",
    "properties": {
        "dataframe_split": {
            "type": "object",
            "required": ["columns", "data"],
            "properties": {
                "columns": {"type": "array", "items": {"type": "string"}},
                "index": {"type": "array"},
                "data": {"type": "array", "items": {"type": "array"}},
            },
        },
        "dataframe_records": _RECORDS,
        "instances": {"type": "array"},
        "inputs": {"oneOf": [{"type": "object"}, {"type": "array"}]},
        "params": {"type": "object"},
    },
}
PREDICTIONS = {
    "type": "object",
    "required": ["predictions"],
    "properties": {"predictions": {"type": "array"}},
}
VERTEX_REQUEST = {
    "type": "object",
    "required": ["instances"],
    "properties": {
        "instances": {"type": "array", "items": {"oneOf": [_ROW, {"type": "array"}]}},
        "parameters": {"type": "object"},
    },
}
NATIVE_REQUEST = {
    "oneOf": [
        _RECORDS,
        {
            "type": "object",
            "required": ["records"],
            "properties": {
                "records": _RECORDS,
                "probabilities": {
                    "type": "boolean",
                    "description": "also return class probabilities",
                },
            },
        },
    ]
}
NATIVE_RESPONSE = {
    "type": "object",
    "required": ["model", "request_id", "ids", "predictions"],
    "properties": {
        "model": {"type": "string", "description": "name@version that answered"},
        "request_id": {"type": "string"},
        "ids": {"type": "array", "items": {"type": "string"}},
        "predictions": {"type": "array"},
        "classes": {"type": "array"},
        "probabilities": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
    },
}
MODELS = {"type": "object", "required": ["models"], "properties": {"models": {"type": "array"}}}
_FEEDBACK_ITEM = {
    "type": "object",
    "required": ["id"],
    "additionalProperties": False,
    "properties": {
        "id": {
            "type": "string",
            "minLength": 1,
            "description": "row id (REQUEST_ID:ROW) or the request id of a one-row request",
        },
        "label": {
            "type": ["string", "number", "boolean"],
            "description": "ground truth: one of the model's classes, or a number (regression)",
        },
        "rating": {"type": "number", "description": "a user's rating of the prediction"},
    },
}
FEEDBACK_REQUEST = {"oneOf": [_FEEDBACK_ITEM, {"type": "array", "items": _FEEDBACK_ITEM}]}
FEEDBACK_RESPONSE = {
    "type": "object",
    "required": ["accepted", "duplicates", "conflicts", "rejected", "rejections"],
    "properties": {
        **{k: {"type": "integer"} for k in ("accepted", "duplicates", "conflicts", "rejected")},
        "rejections": {"type": "array", "items": {"type": "object"}},
        "by_version": {"type": "object"},
        "source": {"type": "string"},
    },
}
