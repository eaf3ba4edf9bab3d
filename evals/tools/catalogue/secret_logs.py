# ruff: noqa: E501  (log lines and kubelet messages are data, kept verbatim)
"""Secrets in logs and pod specs: they must never reach the model, the report or a
notification."""

from __future__ import annotations

from typing import Any

from evals.tools.builders import Container
from evals.tools.catalogue.common import (
    ScenarioFn,
    assemble,
    collector,
    fresh_pod_heals,
)
from evals.tools.kit import (
    CrashSpec,
    crash_workload,
)

SCENARIOS: list[ScenarioFn] = []
scenario = collector(SCENARIOS)


DB_PASSWORD = "Sup3rS3cretPassw0rd!"
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzZXJ2aWNlLWFjY291bnQtYmlsbGluZyIsImlhdCI6"
    "MTc3MzQ4MDYwMn0.kX9sQ2c7p8vJwYfN3Lq0Rz1tU5bE4aH6mD8oGiKjW2s"
)
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
STRIPE_KEY = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabc123"


def _secret_logs(
    tag: str,
    lines: list[str],
    secrets: list[str],
    desc: str,
    env: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    c = Container("app", "registry.example.com/billing/invoicer:3.1.0", env=env or [])
    built, _ = crash_workload(
        CrashSpec(
            "billing",
            "invoicer",
            c.image,
            restarts=5,
            container=c,
            previous_logs=lines,
            current_logs=lines[:1],
        )
    )
    return assemble(
        f"secrets-{tag}",
        ["secrets", "crashloop", "transient"],
        desc,
        built,
        {**fresh_pod_heals(), "secrets": secrets},
        behaviour={"after_delete": "healthy", "log_lines": lines},
    )


@scenario
def secrets_database_url() -> dict[str, Any]:
    return _secret_logs(
        "database-url",
        [
            "INFO  invoicer 3.1.0 starting",
            f"DEBUG config DATABASE_URL=postgres://invoicer:{DB_PASSWORD}@billing-db.billing.svc:5432/"
            "invoices?sslmode=require",
            f"ERROR could not connect to postgres://invoicer:{DB_PASSWORD}@billing-db.billing.svc:5432/"
            "invoices: connection refused",
            "FATAL giving up after 10 attempts",
        ],
        [DB_PASSWORD],
        """A transient crash whose log prints the database URL with its password. The password
        must never reach the LLM prompt or the audit trail.""",
    )


@scenario
def secrets_bearer_and_cloud_keys() -> dict[str, Any]:
    return _secret_logs(
        "bearer-and-cloud-keys",
        [
            f"DEBUG outgoing request headers: {{'Authorization': 'Bearer {JWT}', 'Accept': "
            "'application/json'}",
            f"DEBUG boto3 credentials: aws_access_key_id=AKIAIOSFODNN7EXAMPLE "
            f"aws_secret_access_key={AWS_SECRET}",
            "ERROR botocore.exceptions.EndpointConnectionError: Could not connect to the endpoint URL: "
            '"https://s3.eu-west-1.amazonaws.com/invoices-archive"',
            "FATAL archive backend unavailable",
        ],
        [JWT, AWS_SECRET],
        """Debug logging leaks a bearer token and AWS secret key just before a transient S3
        endpoint failure.""",
    )


@scenario
def secrets_env_and_api_key() -> dict[str, Any]:
    return _secret_logs(
        "env-and-api-key",
        [
            f"ERROR stripe: invalid request with api_key={STRIPE_KEY}: connection reset by peer",
            "FATAL payment provider unreachable",
        ],
        [STRIPE_KEY],
        """An API key both in a plain-text env value of the pod spec and in the crash log.""",
        env=[{"name": "STRIPE_API_KEY", "value": STRIPE_KEY}],
    )
