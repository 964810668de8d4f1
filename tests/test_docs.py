"""Every example in README.md and docs/ runs, in order, in a fresh folder.

Python blocks of one page share a namespace; ``modelcycle ...`` lines of bash blocks run as
real commands at their place in the page and must exit 0. Quickstart lines that build a
virtual environment are left to CI, which runs exactly that command.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _script(page: Path) -> str:
    lines = ["import subprocess, sys"]
    for language, body in _FENCE.findall(page.read_text()):
        if language == "python":
            lines.append(body)
        elif language == "bash":
            for command in body.splitlines():
                if command.startswith("modelcycle "):
                    argv = shlex.split(command)[1:]
                    lines.append(
                        f"subprocess.run([sys.executable, '-m', 'modelcycle', *{argv!r}], "
                        "check=True)"
                    )
    return "\n".join(lines)


def test_every_page_has_runnable_examples() -> None:
    for page in PAGES:
        assert _script(page).count("\n") > 2, f"{page.name} has no runnable example"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_examples_run(page: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _script(page)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
