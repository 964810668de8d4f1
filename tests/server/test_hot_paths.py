"""The prediction routes answered in front of the middleware stack (``server/_hot.py``) and
the request ids drawn in blocks (``server/_common.new_request_id``)."""

from __future__ import annotations

import os
import re

from tests.server.conftest import InProcess, Served, row_of

from modelcycle.server._common import new_request_id


def test_request_ids_are_unique_hex_across_refills() -> None:
    ids = [new_request_id() for _ in range(2000)]  # several blocks of 256
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{32}", one) for one in ids)


def test_a_forked_worker_never_repeats_its_parents_request_ids() -> None:
    new_request_id()  # the parent holds a block of ids not handed out yet
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: hand back the ids it would give its first requests
        os.close(read)
        os.write(write, "".join(new_request_id() for _ in range(20)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(pid, 0)
    child = {text[i : i + 32] for i in range(0, len(text), 32)}
    parent = {new_request_id() for _ in range(300)}
    assert len(child) == 20
    assert not child & parent


def test_hot_prediction_routes_answer_like_the_app_and_stamp_headers(
    app: InProcess, served: Served
) -> None:
    record = row_of(served.trained.cancer_rows)
    answer = app.request("POST", "/predict/cancer", json=[record])
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Model-Version"] == "cancer@1"
    assert answer.json()["request_id"] == answer.headers["X-Request-Id"]
    unknown = app.request("POST", "/predict/nobody", json=[record])
    assert unknown.status_code == 404
    assert "nobody" in unknown.json()["error"]
    assert unknown.headers["X-Request-Id"] and unknown.headers["X-Model-Version"]


def test_other_methods_on_prediction_paths_go_down_the_app_stack(app: InProcess) -> None:
    wrong = app.request("GET", "/predict/cancer")
    assert wrong.status_code == 405
    assert wrong.headers["X-Model-Version"] == "cancer@1,flowers@1"
    assert app.request("GET", "/v2/models/cancer").json()["name"] == "cancer"
