"""`kubemedic inbox`: the web page where on-call people approve or reject destructive actions.

`build_app(settings, InboxConfig(...), extra_routes=())` makes the Starlette app; see
docs/inbox.md for running it and its security model.
"""

from kubemedic.inbox.app import Inbox, InboxConfig, build_app

__all__ = ["Inbox", "InboxConfig", "build_app"]
