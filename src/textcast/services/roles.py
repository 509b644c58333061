"""Who may do what: the three roles shared by dashboard users and API keys.

* ``admin``: everything, including provider credentials, senders, outgoing
  webhooks (their signing secrets), API keys, users, the installation's
  defaults and the audit log.
* ``editor``: the day-to-day work: send (test messages, inbox replies, the
  messages API, campaigns), contacts and their tags, segments, suppressions,
  keyword rules, message templates; reads everything except secrets and the
  audit log.
* ``viewer``: reads; changes nothing.

Permissions are named once here; the faces ask :meth:`Actor.may`.
"""

from __future__ import annotations

from dataclasses import dataclass

from textcast.errors import TextcastError

ROLES = ("admin", "editor", "viewer")

READ = "read"
SEND = "send"  # messages, test messages, inbox replies, campaigns
AUDIENCE_WRITE = "audience.write"  # contacts, tags, segments, suppressions, keyword rules
CONTENT_WRITE = "content.write"  # message templates
PROVIDERS_WRITE = "providers.write"  # providers, credentials, senders, relay secrets
SECRETS_READ = "secrets.read"  # masked credentials, receipt URLs (they carry a token)
WEBHOOKS_WRITE = "webhooks.write"  # outgoing webhook endpoints and their secrets
KEYS_MANAGE = "keys.manage"
SETTINGS_WRITE = "settings.write"  # the installation's defaults (region, quiet hours, caps)
USERS_MANAGE = "users.manage"
AUDIT_READ = "audit.read"

_VIEWER = frozenset({READ})
_EDITOR = _VIEWER | {SEND, AUDIENCE_WRITE, CONTENT_WRITE}
_ADMIN = _EDITOR | {
    PROVIDERS_WRITE,
    SECRETS_READ,
    WEBHOOKS_WRITE,
    KEYS_MANAGE,
    SETTINGS_WRITE,
    USERS_MANAGE,
    AUDIT_READ,
}
PERMISSIONS: dict[str, frozenset[str]] = {"admin": _ADMIN, "editor": _EDITOR, "viewer": _VIEWER}


class Forbidden(TextcastError):
    """The actor's role does not allow the action (HTTP 403)."""


def check_role(role: str) -> str:
    from textcast.errors import ValidationFailed

    if role not in ROLES:
        raise ValidationFailed("role", f"must be one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Actor:
    """Who is acting: a dashboard user, an API key, the CLI, or nobody yet
    (a sign-in attempt). ``ip`` is the client's address where there is one."""

    kind: str  # user, api_key, cli, anonymous
    id: int | None
    name: str
    role: str
    ip: str | None = None

    @property
    def label(self) -> str:
        if self.kind == "user":
            return f"user {self.name}"
        if self.kind == "api_key":
            return f"API key {self.name} (#{self.id})"
        if self.kind == "cli":
            return "command line"
        return self.name

    def may(self, permission: str) -> bool:
        return permission in PERMISSIONS.get(self.role, frozenset())

    def require(self, permission: str) -> None:
        if not self.may(permission):
            raise Forbidden(f"the {self.role} role may not do this ({permission})")


CLI = Actor("cli", None, "cli", "admin")
