"""The metadata store: a thin facade over one repository per aggregate.

    store = MetadataStore("sqlite:///.modelcycle/modelcycle.db")
    store.experiments   # ExperimentRepository: named groups of runs
    store.runs          # RunRepository: life, params, tags, inputs, artifacts, search
    store.metrics       # MetricRepository: bulk point writes, histories
    store.datasets      # DatasetRepository: immutable dataset versions
    store.steps         # StepCacheRepository: outputs of pipeline steps by cache key
    store.registry      # RegistryRepository: models, versions, aliases and their history
    store.audit         # AuditRepository: the hash-chained log of registry changes
    store.predictions   # PredictionRepository: the immutable log of served predictions
    store.keys          # ApiKeyRepository: API keys (hashed secrets) and their scopes
    store.feedback      # FeedbackRepository: labels and ratings of predicted rows

Every repository shares one :class:`~modelcycle.store._db.Database` (engine, backend, schema
revision); the facade holds no logic of its own.
"""

from __future__ import annotations

from modelcycle._settings import resolve_store_url
from modelcycle.store._audit import AuditRepository
from modelcycle.store._datasets import DatasetRepository
from modelcycle.store._db import Database
from modelcycle.store._experiments import ExperimentRepository
from modelcycle.store._feedback import FeedbackRepository
from modelcycle.store._keys import ApiKeyRepository
from modelcycle.store._metrics import MetricRepository
from modelcycle.store._monitoring import MonitoringRepository
from modelcycle.store._predictions import PredictionRepository
from modelcycle.store._registry import RegistryRepository
from modelcycle.store._runs import RunRepository
from modelcycle.store._steps import StepCacheRepository

__all__ = ["MetadataStore", "open_metadata_store"]


class MetadataStore:
    """Records of experiments, runs and metrics in SQLite or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.db = Database(url)
        self.experiments = ExperimentRepository(self.db)
        self.runs = RunRepository(self.db)
        self.metrics = MetricRepository(self.db)
        self.datasets = DatasetRepository(self.db)
        self.steps = StepCacheRepository(self.db)
        self.registry = RegistryRepository(self.db)
        self.audit = AuditRepository(self.db)
        self.predictions = PredictionRepository(self.db)
        self.keys = ApiKeyRepository(self.db)
        self.feedback = FeedbackRepository(self.db)
        self.monitoring = MonitoringRepository(self.db)

    @property
    def url(self) -> str:
        """The store URL (password hidden)."""
        return self.db.url

    def close(self) -> None:
        """Release the store's connections."""
        self.db.close()

    def __repr__(self) -> str:
        return f"MetadataStore({self.url!r})"


def open_metadata_store(url: str | None = None) -> MetadataStore:
    """Open (creating or upgrading as needed) the metadata store at ``url``.

    ``None`` means ``$MODELCYCLE_STORE`` or the embedded SQLite default under ``./.modelcycle/``.
    """
    return MetadataStore(resolve_store_url(url))
