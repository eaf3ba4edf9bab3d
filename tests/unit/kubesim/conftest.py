from __future__ import annotations

import pytest

from tests.unit.kubesim.harness import Cluster


@pytest.fixture
def cluster() -> Cluster:
    return Cluster()
