"""The scenario catalogue, one module per family.

Each module's `SCENARIOS` lists its scenario builders in the order they are written; each
builder returns one whole scenario document. `FAMILIES` are written by hand around Deployments
(`evals.tools.builders`, `evals.tools.kit`); `RECORDED` are the pod kinds beyond Deployments
(StatefulSets, DaemonSets, Jobs, CronJobs, Services, claims, nodes), recorded from kubesim
(`evals.tools.gen_kinds`). `CATALOGUE` is all of them, in that order.
"""

from __future__ import annotations

from evals.tools.catalogue import (
    adversarial,
    approvals,
    bare_pods,
    budgets,
    claims,
    config,
    crashloop,
    daemonsets,
    evicted,
    healthy,
    imagepull,
    jobs,
    memory,
    nodes,
    oom,
    pending,
    probes,
    protected,
    secret_logs,
    services,
    statefulsets,
)
from evals.tools.catalogue.common import ScenarioFn

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

RECORDED = (statefulsets, daemonsets, jobs, services, claims, nodes)

CATALOGUE: list[ScenarioFn] = [fn for family in (*FAMILIES, *RECORDED) for fn in family.SCENARIOS]
