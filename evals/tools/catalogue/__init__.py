"""The hand-written scenario catalogue, one module per failure family.

Each module's `SCENARIOS` lists its scenario builders in the order they are written; each
builder returns one whole scenario document. `CATALOGUE` is every family in turn, then the pod
kinds beyond Deployments (StatefulSets, DaemonSets, Jobs, CronJobs, Services, claims, nodes),
which are recorded from kubesim in their own catalogue (`evals.tools.gen_kinds`).
"""

from __future__ import annotations

from evals.tools.catalogue import (
    adversarial,
    approvals,
    bare_pods,
    budgets,
    config,
    crashloop,
    evicted,
    healthy,
    imagepull,
    memory,
    oom,
    pending,
    probes,
    protected,
    secret_logs,
)
from evals.tools.catalogue.common import ScenarioFn
from evals.tools.gen_kinds import CATALOGUE as KINDS_CATALOGUE

FAMILIES = (
    crashloop,
    probes,
    config,
    oom,
    memory,
    imagepull,
    pending,
    evicted,
    healthy,
    protected,
    bare_pods,
    budgets,
    approvals,
    adversarial,
    secret_logs,
)

CATALOGUE: list[ScenarioFn] = [
    *(fn for family in FAMILIES for fn in family.SCENARIOS),
    *KINDS_CATALOGUE,
]
