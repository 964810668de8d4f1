"""Online serving: input validation against a version's signature, loaded models, adaptive
micro-batching, deployments with hot swap and traffic policies, the prediction log, API keys
and batch scoring.

    from modelcycle.serving import Deployment, ServeSpec

    spec = ServeSpec.from_refs(["cancer@champion"])
    deployment = Deployment(registry, spec.models[0], spec, on_prediction=logger.log)
    deployment.start()
    answer = await deployment.predict({"age": [42.0]}, ["predict"], request_id="r1")

Every name loads on first use, so ``import modelcycle.serving`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelcycle._lazy import lazy_attributes

if TYPE_CHECKING:
    from modelcycle.serving._batch import score_file
    from modelcycle.serving._batcher import MicroBatcher
    from modelcycle.serving._deployment import (
        Answer,
        Deployment,
        ModelNotReadyError,
        ShadowAnswer,
    )
    from modelcycle.serving._keys import ApiKeys
    from modelcycle.serving._predlog import PredictionLogger
    from modelcycle.serving._served import ServedModel
    from modelcycle.serving._signature import Columns, InputSchema
    from modelcycle.serving._spec import (
        AuthSpec,
        BatchingSpec,
        LimitsSpec,
        LogSpec,
        ModelServeSpec,
        PolicySpec,
        ServeSpec,
        SwapSpec,
        load_serve_spec,
    )

__all__ = [
    "Answer",
    "ApiKeys",
    "AuthSpec",
    "BatchingSpec",
    "Columns",
    "Deployment",
    "InputSchema",
    "LimitsSpec",
    "LogSpec",
    "MicroBatcher",
    "ModelNotReadyError",
    "ModelServeSpec",
    "PolicySpec",
    "PredictionLogger",
    "ServeSpec",
    "ServedModel",
    "ShadowAnswer",
    "SwapSpec",
    "load_serve_spec",
    "score_file",
]

_LAZY = {
    "score_file": "modelcycle.serving._batch",
    "MicroBatcher": "modelcycle.serving._batcher",
    "Answer": "modelcycle.serving._deployment",
    "Deployment": "modelcycle.serving._deployment",
    "ModelNotReadyError": "modelcycle.serving._deployment",
    "ShadowAnswer": "modelcycle.serving._deployment",
    "ApiKeys": "modelcycle.serving._keys",
    "PredictionLogger": "modelcycle.serving._predlog",
    "ServedModel": "modelcycle.serving._served",
    "Columns": "modelcycle.serving._signature",
    "InputSchema": "modelcycle.serving._signature",
    "AuthSpec": "modelcycle.serving._spec",
    "BatchingSpec": "modelcycle.serving._spec",
    "LimitsSpec": "modelcycle.serving._spec",
    "LogSpec": "modelcycle.serving._spec",
    "ModelServeSpec": "modelcycle.serving._spec",
    "PolicySpec": "modelcycle.serving._spec",
    "ServeSpec": "modelcycle.serving._spec",
    "SwapSpec": "modelcycle.serving._spec",
    "load_serve_spec": "modelcycle.serving._spec",
}

__getattr__ = lazy_attributes("modelcycle.serving", _LAZY, globals())
