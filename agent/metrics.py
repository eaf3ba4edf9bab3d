"""The agent's Prometheus series (docs/contracts.md, "Metrics"), on the default registry.

Defined once at import; the composition root serves them (`/metrics`) next to the server's.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

llm_vetoes_total = Counter(
    "kubemedic_llm_vetoes_total",
    "LLM proposals the rule gate overruled, by the action the LLM proposed",
    ["proposed_action"],
)
llm_requests_total = Counter(
    "kubemedic_llm_requests_total",
    "Rationale requests to the LLM, by outcome (ok, unparseable, timeout, error)",
    ["provider", "outcome"],
)
llm_latency_seconds = Histogram(
    "kubemedic_llm_latency_seconds",
    "Wall time of one rationale request to the LLM",
    ["provider"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60),
)
llm_tokens_total = Counter(
    "kubemedic_llm_tokens_total",
    "Tokens the LLM reported, by kind (input, output)",
    ["provider", "kind"],
)
incidents_total = Counter(
    "kubemedic_incidents_total",
    "Incidents closed, by outcome",
    ["outcome"],
)
incidents_open = Gauge(
    "kubemedic_incidents_open",
    "Incidents open right now in this process (including those waiting for approval)",
)
write_slot_wait_seconds = Histogram(
    "kubemedic_write_slot_wait_seconds",
    "How long an incident waited for a write slot (only writes hold one; verifying does not)",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
