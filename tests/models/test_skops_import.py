"""``import_skops``: skops without torch or pytest, the same trust lists, nothing left blocked.

Each test runs in a fresh interpreter: what a process imported before is the point.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# The trust lists skops builds at import (names of types a file may hold without asking).
_LISTS = """
import json, sys
from skops.io import _trusted_types as t
lists = {k: getattr(t, k) for k in dir(t) if k.endswith("_NAMES")}
loaded = {name: name in sys.modules for name in ("torch", "pytest")}
print(json.dumps({"lists": lists, **loaded}))
"""


def _python(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=300
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return found


@pytest.mark.slow
def test_skops_has_the_same_trust_lists_without_importing_torch_or_pytest() -> None:
    ours = _python("from modelcycle.models._persist import import_skops; import_skops()" + _LISTS)
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
