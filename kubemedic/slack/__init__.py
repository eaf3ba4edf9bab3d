"""Approving and rejecting from Slack.

A Slack app's bot posts an interactive message when an approval is pending (Approve / Reject
buttons carrying the approval id), the interactions endpoint (`POST /slack/interactions`)
verifies Slack's signature, maps the Slack user to an approver through an allow-list and
decides through `kubemedic.approval_flow`, and the message is updated with the incident's
outcome. Without a bot token, a plain incoming webhook is told, one way, as before.
"""

from kubemedic.slack.interactions import slack_routes
from kubemedic.slack.messages import approval_message, final_message
from kubemedic.slack.notifier import slack_app_notifier
from kubemedic.slack.settings import SlackSettings

__all__ = [
    "SlackSettings",
    "approval_message",
    "final_message",
    "slack_app_notifier",
    "slack_routes",
]
