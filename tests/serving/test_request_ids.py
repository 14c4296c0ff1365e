"""X-Request-Id: the client's id is kept when it is a sane token, replaced when hostile.

The id ends up in logs, capture files and error messages, so a client must not be
able to put 100 kB, spaces or control characters there.
"""

from __future__ import annotations

import re

import pytest

from cloudeploy.testing import zoo

ROWS = zoo.traffic(4)
GENERATED = re.compile(r"[0-9a-f]{32}\Z")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from starlette.testclient import TestClient

    from cloudeploy.packaging import build_package, load_package
    from cloudeploy.serving import create_app

    package = build_package(zoo.baseline_classifier(), tmp_path_factory.mktemp("ids") / "package", name="ids")
    with TestClient(create_app(load_package(package.path))) as test_client:
        yield test_client


def answer_id(client, headers=None) -> str:
    reply = client.post("/predict", json={"instances": ROWS}, headers=headers or {})
    assert reply.status_code == 200, reply.text
    return reply.headers["x-request-id"]


def test_a_client_id_is_kept(client):
    assert answer_id(client, {"X-Request-Id": "order-2026-12-07/42"}) == "order-2026-12-07/42"


def test_without_an_id_each_answer_gets_a_fresh_one(client):
    first, second = answer_id(client), answer_id(client)
    assert GENERATED.match(first) and GENERATED.match(second) and first != second


@pytest.mark.parametrize("hostile", ["x" * 129, "two words", "tab\there", "é-not-ascii"])
def test_a_hostile_id_is_replaced(client, hostile):
    kept = answer_id(client, {"X-Request-Id": hostile.encode()})  # raw UTF-8 bytes on the wire
    assert GENERATED.match(kept)
