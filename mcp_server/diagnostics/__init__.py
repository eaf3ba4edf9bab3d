"""The diagnostics: pure functions from Kubernetes objects (plain JSON dicts, as the API server
returns them) to findings. No I/O here: the gateway fetches, these functions read.

Public API:

- `diagnose.build_diagnosis(pod, *, events, logs_current, logs_previous, pod_metrics,
  metrics_available, owners, replicasets, pdbs, nodes, config, limit_ranges, pods)
  -> policies.Diagnosis` (with an extra `health_score` field), and
  `diagnose.classify_unhealthy(pod) -> str | None` for the pod cache.
- `pod_status.pod_issues(pod)`, `pod_status.health_score(pod, issues=None)`.
- `events.pod_events`, `summarize_events`, `scheduling_info`, `image_pull_info`,
  `event_issues`, `classify_pull_error`, `parse_scheduler_message`.
- `logs.analyze_log_text(text, container=...) -> LogAnalysis` (the `analyze_logs` result).
- `resources.resource_report(pod, pod_metrics, metrics_available=...) -> ResourceReport` (the
  `check_resource_usage` result), `container_resources`, `cpu_millicores`, `memory_bytes`.
  Quantities are parsed and formatted by `kubemedic_quantity`.
- `config.config_findings(pod, ConfigExistence)`, `config.limit_range_max_memory`.
- `owners.workload_info(pod, owners, replicasets=..., pdbs=..., pods=..., first_failure_at=...)`.

Text that leaves through these functions (log lines, event and status messages) is redacted
with `mcp_server.redaction.redact` and clipped.
"""
