"""Slack settings (`KUBEMEDIC_SLACK_*`): the bot, the signing secret, the channel, the approvers.

Secrets may come from the environment or from files (a mounted Kubernetes Secret): set
`KUBEMEDIC_SLACK_SIGNING_SECRET_FILE=/var/run/secrets/slack/signing-secret` instead of the
value itself. The allow-list maps Slack user ids to approver names, from JSON in
`KUBEMEDIC_SLACK_APPROVERS` or a YAML mapping in the file `KUBEMEDIC_SLACK_APPROVERS_FILE`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

SLACK_API_URL = "https://slack.com/api/"

# Slack user ids: U… or W… (Enterprise Grid), upper-case letters and digits.
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,30}$")


class SlackSettingsError(ValueError):
    """A Slack setting that cannot be used (an unreadable file, a bad allow-list)."""


class SlackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KUBEMEDIC_SLACK_", extra="ignore")

    bot_token: SecretStr | None = Field(default=None, description="xoxb-… bot token")
    bot_token_file: Path | None = None
    signing_secret: SecretStr | None = Field(default=None, description="the app's signing secret")
    signing_secret_file: Path | None = None
    channel: str | None = Field(default=None, description="channel id the approvals go to")
    # Slack user id -> approver name, e.g. {"U024BE7LH": "alice"}.
    approvers: dict[str, str] = Field(default_factory=dict)
    approvers_file: Path | None = None
    # Only requests from this workspace (team id), when set.
    team_id: str | None = None
    api_url: str = Field(default=SLACK_API_URL, description="Slack Web API base URL")
    timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    def token(self) -> str | None:
        """The bot token, from the setting or its file; None when there is none."""
        return _secret(self.bot_token, self.bot_token_file, "bot token")

    def secret(self) -> str | None:
        """The signing secret, from the setting or its file; None when there is none."""
        return _secret(self.signing_secret, self.signing_secret_file, "signing secret")

    def approver_names(self) -> dict[str, str]:
        """The allow-list: the mapping of the environment, then the file's (the file wins)."""
        mapping: dict[str, Any] = dict(self.approvers)
        if self.approvers_file is not None:
            try:
                loaded = yaml.safe_load(self.approvers_file.read_text(encoding="utf-8"))
            except (OSError, yaml.YAMLError) as error:
                raise SlackSettingsError(f"approvers file {self.approvers_file}: {error}") from None
            if loaded is None:
                loaded = {}
            if not isinstance(loaded, dict):
                raise SlackSettingsError(
                    f"approvers file {self.approvers_file}: a mapping of Slack user id to name"
                )
            mapping.update(loaded)
        names: dict[str, str] = {}
        for user_id, name in mapping.items():
            user, person = str(user_id).strip(), str(name or "").strip()
            if not _USER_ID.match(user) or not person:
                raise SlackSettingsError(
                    f"approver {user_id!r}: {name!r} is not a Slack user id and a name"
                )
            names[user] = person
        return names


def _secret(value: SecretStr | None, path: Path | None, what: str) -> str | None:
    if value is not None and value.get_secret_value().strip():
        return value.get_secret_value().strip()
    if path is None:
        return None
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SlackSettingsError(f"{what} file {path}: {error.strerror}") from None
    return text or None
