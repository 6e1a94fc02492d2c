"""Who is calling, and what they may see (the one scoping helper)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, true

from .errors import Forbidden, NotFound
from .permissions import granted


@dataclass(frozen=True)
class Scope:
    """A tenancy boundary: an organization, optionally narrowed to a pod and an inbox."""

    organization_id: str
    pod_id: str | None = None
    inbox_id: str | None = None

    @property
    def type(self) -> str:
        if self.inbox_id:
            return "inbox"
        if self.pod_id:
            return "pod"
        return "organization"

    @property
    def id(self) -> str:
        return self.inbox_id or self.pod_id or self.organization_id

    def where(self, table: Any, *, inbox_column: str = "inbox_id") -> ColumnElement[bool]:
        """SQL condition restricting `table` (with organization_id/pod_id/inbox columns) to this scope."""
        conds = [table.organization_id == self.organization_id]
        if self.pod_id is not None and hasattr(table, "pod_id"):
            conds.append(table.pod_id == self.pod_id)
        if self.inbox_id is not None:
            column = getattr(table, inbox_column, None)
            if column is not None:
                conds.append(column == self.inbox_id)
        return and_(true(), *conds)

    def contains(self, *, organization_id: str, pod_id: str | None, inbox_id: str | None) -> bool:
        if organization_id != self.organization_id:
            return False
        if self.pod_id is not None and pod_id != self.pod_id:
            return False
        return not (self.inbox_id is not None and inbox_id != self.inbox_id)


@dataclass(frozen=True)
class Principal:
    api_key_id: str | None
    scope: Scope
    permissions: dict[str, bool] | None
    expires_at: Any = None

    @property
    def organization_id(self) -> str:
        return self.scope.organization_id

    def can(self, flag: str) -> bool:
        return granted(self.permissions, flag)

    def require(self, flag: str) -> None:
        if not self.can(flag):
            raise Forbidden(f"API key lacks the {flag} permission", code="missing_permission")

    def narrow(self, *, pod_id: str | None = None, inbox_id: str | None = None) -> Scope:
        """The scope of a pod- or inbox-pinned route, or 404 when it lies outside this key's scope.

        The caller must already have checked that the pod/inbox exists in the organization; this
        only enforces the key's own boundary so that foreign ids look exactly like missing ones.
        """
        own = self.scope
        if pod_id is not None and own.pod_id is not None and pod_id != own.pod_id:
            raise NotFound("Pod not found")
        if inbox_id is not None and own.inbox_id is not None and inbox_id != own.inbox_id:
            raise NotFound("Inbox not found")
        return Scope(
            organization_id=own.organization_id,
            pod_id=pod_id or own.pod_id,
            inbox_id=inbox_id or own.inbox_id,
        )
