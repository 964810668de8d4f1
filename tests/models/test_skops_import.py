"""``import_skops``: skops without torch or pytest, the same trust lists, nothing left blocked.

Each test runs in a fresh interpreter: what a process imported before is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# The trust lists skops builds at import (names of types a file may hold without asking).
_LISTS = """
import json, sys
from skops.io import _trusted_types as t
lists = {k: getattr(t, k) for k in dir(t) if k.endswith("_NAMES")}
loaded = {name: name in sys.modules for name in ("torch", "pytest")}
print(json.dumps({"lists": lists, **loaded}))
"""


def _python(code: str, cache: Path | None = None) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (with ``cache`` as its XDG cache folder) and return
    the JSON its last line prints."""
    env = dict(os.environ)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


@pytest.mark.slow
def test_skops_has_the_same_trust_lists_without_importing_torch_or_pytest(
    tmp_path: Path,
) -> None:
    ours = _python(
        "from modelcycle.models._persist import import_skops; import_skops()" + _LISTS,
        cache=tmp_path,  # empty: the walk runs
    )
    plain = _python("import skops.io" + _LISTS)
    assert ours["lists"] == plain["lists"]
    assert (ours["torch"], ours["pytest"]) == (False, False)
    assert plain["pytest"] is True  # what the block saved: the walk imports it when installed


def test_pytest_imports_normally_after_a_save() -> None:
    found = _python("""
import json, sys
from sklearn.linear_model import LogisticRegression
from modelcycle.models._persist import dump_model, restore_model
model = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
restored = restore_model(*dump_model(model))
before = "pytest" in sys.modules
import pytest
print(json.dumps({"before": before, "after": pytest.__name__ in sys.modules,
                  "same": restored.predict([[2.5]]).tolist() == model.predict([[2.5]]).tolist()}))
""")
    assert found == {"before": False, "after": True, "same": True}


def test_the_import_is_retried_without_the_block_when_skops_needs_a_blocked_module() -> None:
    found = _python("""
import json, sys
from modelcycle.models import _persist
_persist._WALK_ONLY = {"skops.io._audit": ()}  # a module skops cannot import without
sio = _persist.import_skops()
audit = sys.modules.get("skops.io._audit") is not None
print(json.dumps({"dumps": callable(sio.dumps), "audit": audit}))
""")
    assert found == {"dumps": True, "audit": True}


# With the estimator names kept: skops' lists, whether the walk ran (it imports
# sklearn.semi_supervised, which nothing else here does), and the real all_estimators back.
_KEPT = "from modelcycle.models._persist import import_skops; import_skops()" + _LISTS.replace(
    "print(json.dumps({",
    """import sklearn.utils, sklearn.utils.discovery
loaded["walked"] = "sklearn.semi_supervised" in sys.modules
loaded["restored"] = sklearn.utils.all_estimators is sklearn.utils.discovery.all_estimators
print(json.dumps({""",
)


@pytest.mark.slow
def test_kept_estimator_names_give_skops_the_same_lists_without_the_walk(tmp_path: Path) -> None:
    plain = _python("import skops.io" + _LISTS)
    first = _python(_KEPT, cache=tmp_path)
    (kept,) = (tmp_path / "modelcycle").glob("skops-estimators-*.json")
    assert first["walked"] is True
    second = _python(_KEPT, cache=tmp_path)
    assert second["walked"] is False
    assert first["lists"] == second["lists"] == plain["lists"]
    assert first["restored"] is second["restored"] is True
    names = json.loads(kept.read_text())
    assert names == plain["lists"]["SKLEARN_ESTIMATOR_TYPE_NAMES"]  # type: ignore[index]

    kept.write_text('{"not": "a list of names"}')  # a damaged file is only a missed cache
    damaged = _python(_KEPT, cache=tmp_path)
    assert damaged["walked"] is True
    assert damaged["lists"] == plain["lists"]
    assert json.loads(kept.read_text()) == names  # and it is written again


def test_an_unwritable_cache_folder_only_means_walking_every_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would go")
    found = _python(_KEPT, cache=blocker)
    assert found["walked"] is True
    assert found["restored"] is True
