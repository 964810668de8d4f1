"""The serving spec: ``serve.yaml`` (or CLI refs) as validated pydantic models.

    models:
      - name: cancer
        alias: champion               # the alias followed (hot swap when it moves)
        route: cancer                 # URL name; default: the model name
        policy: {mode: canary, challenger: challenger, share: 0.1}
    batching: {enabled: true, max_batch_rows: 512, max_wait_ms: 2.0}
    limits: {max_rows: 10000, max_body_bytes: 20000000}
    unknown_categories: reject        # or "unknown": map an unseen category to missing
    swap: {poll_seconds: 2.0}
    log: {enabled: true, sample: 1.0, queue_size: 10000, batch_size: 500, flush_seconds: 0.5}
    auth: {enabled: false, open_health: true, open_metrics: true}
    host: 127.0.0.1
    port: 8080
    workers: 1

It is validated once, at the edge: :func:`load_serve_spec` reads YAML through
``modelcycle._yamlspec`` (errors name the file, line and key); :meth:`ServeSpec.from_refs`
builds one from ``NAME[@ALIAS]`` references given on the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modelcycle._yamlspec import load_model, validate_section
from modelcycle.errors import NotFoundError, SpecError

__all__ = [
    "AuthSpec",
    "BatchingSpec",
    "LimitsSpec",
    "LogSpec",
    "ModelServeSpec",
    "PolicySpec",
    "ServeSpec",
    "SwapSpec",
    "load_serve_spec",
]

_STRICT = ConfigDict(extra="forbid")


class PolicySpec(BaseModel):
    """How traffic is split between the followed alias (the champion) and a challenger.

    ``canary``: ``share`` of requests answered by the challenger; ``shadow``: the champion
    answers, the challenger gets a copy (its answer is logged, never returned); ``ab``: requests
    assigned by a stable hash of the ``key`` header, ``share`` of the keys to the challenger.
    ``challenger`` is an alias or a version number of the same model.
    """

    model_config = _STRICT

    mode: Literal["canary", "shadow", "ab"]
    challenger: str = Field(min_length=1)
    share: float = Field(default=0.1, gt=0.0, le=1.0)
    key: str | None = "X-Request-Key"

    @property
    def key_header(self) -> str:
        """The request header whose value assigns A/B traffic."""
        return self.key or "X-Request-Key"


class ModelServeSpec(BaseModel):
    """One served model: which alias it follows, its URL name and its traffic policy."""

    model_config = _STRICT

    name: str = Field(min_length=1)
    alias: str = Field(default="champion", min_length=1)
    route: str | None = None
    policy: PolicySpec | None = None

    @model_validator(mode="after")
    def _default_route(self) -> ModelServeSpec:
        if "@" in self.name:
            raise ValueError(f"name {self.name!r} holds '@': give the alias in 'alias'")
        if self.route is None:
            self.route = self.name
        return self

    @property
    def ref(self) -> str:
        """``NAME@ALIAS``: what the deployment follows."""
        return f"{self.name}@{self.alias}"

    @property
    def url_name(self) -> str:
        """The route name (the model name unless set)."""
        return self.route or self.name


class BatchingSpec(BaseModel):
    """Adaptive micro-batching: no wait when idle, merge concurrent requests up to
    ``max_batch_rows``, wait at most ``max_wait_ms`` for more while a batch runs."""

    model_config = _STRICT

    enabled: bool = True
    max_batch_rows: int = Field(default=512, ge=1)
    max_wait_ms: float = Field(default=2.0, ge=0.0)


class LimitsSpec(BaseModel):
    """Request limits: rows per request and body size in bytes."""

    model_config = _STRICT

    max_rows: int = Field(default=10_000, ge=1)
    max_body_bytes: int = Field(default=20_000_000, ge=1)


class SwapSpec(BaseModel):
    """Hot swap: how often the followed alias is polled."""

    model_config = _STRICT

    poll_seconds: float = Field(default=2.0, gt=0.0)


class LogSpec(BaseModel):
    """The prediction log: sampling rate, queue bound, write batch size and flush period."""

    model_config = _STRICT

    enabled: bool = True
    sample: float = Field(default=1.0, ge=0.0, le=1.0)
    queue_size: int = Field(default=10_000, ge=1)
    batch_size: int = Field(default=500, ge=1)
    flush_seconds: float = Field(default=0.5, gt=0.0)


class AuthSpec(BaseModel):
    """API-key access: off by default; health and metrics may stay open."""

    model_config = _STRICT

    enabled: bool = False
    open_health: bool = True
    open_metrics: bool = True


class ServeSpec(BaseModel):
    """Everything ``modelcycle serve`` needs (see the module docstring)."""

    model_config = _STRICT

    models: list[ModelServeSpec] = Field(default_factory=list)
    batching: BatchingSpec = Field(default_factory=BatchingSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    unknown_categories: Literal["reject", "unknown"] = "reject"
    swap: SwapSpec = Field(default_factory=SwapSpec)
    log: LogSpec = Field(default_factory=LogSpec)
    auth: AuthSpec = Field(default_factory=AuthSpec)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    workers: int = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _unique_routes(self) -> ServeSpec:
        seen: set[str] = set()
        for model in self.models:
            if model.url_name in seen:
                raise ValueError(f"route {model.url_name!r} is served twice")
            seen.add(model.url_name)
        return self

    @classmethod
    def from_refs(cls, refs: list[str] | tuple[str, ...], **overrides: Any) -> ServeSpec:
        """A spec serving ``NAME[@ALIAS]`` references (alias default ``champion``);
        ``overrides`` are further top-level keys (``port=9000``, ``batching={...}``).

        >>> ServeSpec.from_refs(["cancer@champion", "iris"], port=9000).models[1].ref
        'iris@champion'
        """
        models = []
        for ref in refs:
            name, _, alias = ref.partition("@")
            if not name:
                raise SpecError(f"model reference {ref!r}: expected NAME or NAME@ALIAS")
            models.append({"name": name, **({"alias": alias} if alias else {})})
        data: dict[str, Any] = {**overrides}
        data["models"] = [*models, *data.get("models", [])]
        dumped = {k: (v.model_dump() if isinstance(v, BaseModel) else v) for k, v in data.items()}
        dumped["models"] = [
            m.model_dump() if isinstance(m, BaseModel) else m for m in dumped["models"]
        ]
        return validate_section(cls, dumped, source="serve options")

    def model(self, route: str) -> ModelServeSpec:
        """The served model whose route is ``route``."""
        for model in self.models:
            if model.url_name == route:
                return model
        served = ", ".join(m.url_name for m in self.models) or "none"
        raise NotFoundError(f"no served model has route {route!r}; served: {served}")


def load_serve_spec(path: str | Path) -> ServeSpec:
    """Load and validate ``serve.yaml``; errors name the file, line and key."""
    return load_model(ServeSpec, path)
