"""Open Inference Protocol v2 tensors <-> Columns, including Triton's binary tensor extension.

A v2 request names one tensor per input column (``{"name", "shape", "datatype", "data"}``,
data row-major, flat or nested); a client may also send one 2-D tensor ``[rows, columns]``
whose columns follow the signature's order. Triton's HTTP client sends tensors as raw bytes
after the JSON header by default (``Inference-Header-Content-Length`` plus a
``binary_data_size`` parameter per input); that is decoded here with NumPy, since no library
offers a server-side decoder. Outputs are answered as JSON (which every client reads).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from modelcycle.errors import InvalidValueError, invalid_value

__all__ = ["V2Request", "decode_request", "encode_outputs", "output_datatype"]

_NUMERIC = {
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = (*_NUMERIC, "BOOL", "BYTES")
_NONE = type(None)
#: The JSON value types each datatype accepts (null: a missing value).
_ALLOWED: dict[str, frozenset[type]] = {
    **{datatype: frozenset({int, float, _NONE}) for datatype in _NUMERIC},
    "BOOL": frozenset({bool, _NONE}),
    "BYTES": frozenset({str, _NONE}),
}


class V2Request:
    """A decoded inference request: columns, requested outputs and the client's id."""

    __slots__ = ("columns", "id", "outputs")

    def __init__(self, columns: dict[str, list[Any]], outputs: list[str] | None, id: str | None):
        self.columns = columns
        self.outputs = outputs
        self.id = id


def decode_request(
    payload: Any, binary: bytes, names: Sequence[str], offered: Sequence[str]
) -> V2Request:
    """The request object (plus the bytes after the JSON header, ``b""`` if none)."""
    if not isinstance(payload, dict):
        raise invalid_value("request body", type(payload).__name__, "expected an object")
    tensors = payload.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise invalid_value("field 'inputs'", _kind(tensors), "expected a non-empty list")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise invalid_value("field 'id'", request_id, "expected a string")
    columns: dict[str, list[Any]] = {}
    offset = 0
    for i, tensor in enumerate(tensors):
        values, shape, offset = _tensor(tensor, i, binary, offset)
        name = tensor["name"]
        if len(shape) == 2 and len(tensors) == 1 and shape[1] == len(names) > 1:
            width = shape[1]
            for j, column in enumerate(names):
                columns[column] = values[j::width]
            continue
        if len(shape) > 1 and any(d != 1 for d in shape[1:]):
            why = "expected one value per row (shape [rows] or [rows, 1])"
            raise invalid_value(f"shape of input {name!r}", shape, why)
        if name in columns:
            raise invalid_value(f"input {name!r}", "twice", "each input may be sent once")
        columns[name] = values
    if offset != len(binary):
        raise InvalidValueError(
            f"invalid request body: {len(binary) - offset} bytes of binary data no input claims"
        )
    return V2Request(columns, _outputs(payload.get("outputs"), offered), request_id)


def _tensor(tensor: Any, i: int, binary: bytes, offset: int) -> tuple[list[Any], list[int], int]:
    """One input tensor's values (flat, row-major), its shape, and the new binary offset.

    Written for the 1-row hot path (a request of 30 columns is 30 tensors): exact ``type()``
    checks and set lookups, no generator per tensor."""
    name = tensor.get("name") if type(tensor) is dict else None
    if type(name) is not str:
        raise invalid_value(f"field 'inputs[{i}]'", _kind(tensor), "expected a tensor with a name")
    datatype = tensor.get("datatype")
    if datatype not in _ALLOWED:
        why = f"expected one of {', '.join(DATATYPES)}"
        raise invalid_value(f"datatype of input {name!r}", datatype, why)
    shape = tensor.get("shape")
    if type(shape) is not list:
        raise invalid_value(f"shape of input {name!r}", shape, "expected a list of sizes >= 0")
    count = 1
    for dimension in shape:
        if type(dimension) is not int or dimension < 0:
            raise invalid_value(f"shape of input {name!r}", shape, "expected a list of sizes >= 0")
        count *= dimension
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if type(parameters) is dict else None
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            why = f"{len(binary) - offset} bytes of binary data remain"
            raise invalid_value(f"binary_data_size of input {name!r}", size, why)
        values = _from_bytes(binary[offset : offset + size], datatype, name)
        offset += size
    else:
        data = tensor.get("data")
        flat = type(data) is list and (not data or type(data[0]) is not list)
        values = data if flat else _flatten(data, name)
        allowed = _ALLOWED[datatype]
        for value in values:
            if type(value) not in allowed:
                _refuse_values(values, datatype, name)
    if len(values) != count:
        why = f"holds {len(values)} values, the shape says {count}"
        raise invalid_value(f"shape of input {name!r}", shape, why)
    return values, shape, offset


def _flatten(data: Any, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise invalid_value(f"data of input {name!r}", _kind(data), "expected a list")
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat


def _refuse_values(values: list[Any], datatype: str, name: str) -> None:
    """Raise the error naming the first value a ``datatype`` tensor cannot hold."""
    allowed = _ALLOWED[datatype]
    for row, value in enumerate(values):
        if type(value) not in allowed:
            holds = {"BYTES": "strings", "BOOL": "booleans"}.get(datatype, "numbers")
            why = f"a {datatype} tensor holds {holds}"
            raise invalid_value(f"input {name!r} (row {row})", value, why)


def _from_bytes(raw: bytes, datatype: str, name: str) -> list[Any]:
    import numpy as np

    if datatype == "BYTES":
        values: list[Any] = []
        position = 0
        while position < len(raw):
            if position + 4 > len(raw):
                raise invalid_value(f"binary data of input {name!r}", "truncated", "bad length")
            (length,) = struct.unpack_from("<I", raw, position)
            position += 4
            chunk = raw[position : position + length]
            position += length
            try:
                values.append(chunk.decode("utf-8"))
            except UnicodeDecodeError:
                raise invalid_value(f"input {name!r}", chunk[:20], "not UTF-8 text") from None
        return values
    dtype = "?" if datatype == "BOOL" else _NUMERIC[datatype]
    item = np.dtype(dtype).itemsize
    if len(raw) % item:
        why = f"{len(raw)} bytes are not a whole number of {datatype} values"
        raise invalid_value(f"binary data of input {name!r}", len(raw), why)
    decoded: list[Any] = np.frombuffer(raw, dtype=dtype).tolist()
    return decoded


def _outputs(requested: Any, offered: Sequence[str]) -> list[str] | None:
    if requested is None:
        return None
    if not isinstance(requested, list):
        raise invalid_value("field 'outputs'", _kind(requested), "expected a list")
    names: list[str] = []
    for i, output in enumerate(requested):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str) or name not in offered:
            why = f"this model offers {', '.join(offered)}"
            raise invalid_value(f"field 'outputs[{i}].name'", name, why)
        names.append(name)
    return names


def output_datatype(values: Sequence[Any]) -> str:
    """The v2 datatype of a list of output values, as ``ServedModel.v2_outputs`` declares
    it: FP64 for numbers (labels of numeric classes too), BYTES for the rest."""
    first = values[0] if values else 0.0
    if isinstance(first, list):
        return "FP64"
    if isinstance(first, (int, float)) and not isinstance(first, bool):
        return "FP64"
    return "BYTES"


def encode_outputs(outputs: Mapping[str, list[Any]], n_rows: int) -> list[dict[str, Any]]:
    """Each output as a v2 tensor: labels/values ``[rows]``, probabilities ``[rows, classes]``."""
    tensors = []
    for name, values in outputs.items():
        if values and isinstance(values[0], list):
            width = len(values[0])
            flat = [p for row in values for p in row]
            tensors.append(
                {"name": name, "datatype": "FP64", "shape": [n_rows, width], "data": flat}
            )
        else:
            datatype = output_datatype(values)
            data = [str(v) for v in values] if datatype == "BYTES" else values
            tensors.append({"name": name, "datatype": datatype, "shape": [n_rows], "data": data})
    return tensors


def _kind(value: Any) -> Any:
    return type(value).__name__ if isinstance(value, (dict, list)) else value
