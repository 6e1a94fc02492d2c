"""Allow/block lists (REFERENCE §2.11): CRUD at organization, pod and inbox scope, and the rule engine.

An entry lives at exactly one level, recorded in `scope_key`:

* ``"org"`` — organization-wide (pod_id and inbox_id are NULL);
* ``"pod#<pod_id>"`` — one pod (pod_id set);
* ``"inbox#<inbox_id>"`` — one inbox (pod_id is the inbox's pod, inbox_id set).

Routes pick the level through the one scoping helper: /v0/lists works at the key's own level (an org
key on organization entries, a pod key on its pod's, an inbox key on its inbox's); pod routes at the
pod's level and inbox routes at the inbox's. A key narrower than the route (an inbox key on its own
pod's route) stays at its own level, so a key never sees or changes entries broader than itself.
"""

from __future__ import annotations

from email.utils import parseaddr

from email_validator import EmailNotValidError
from sqlalchemy import literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.engine import Database
from ..db.pagination import Page, check_limit, paginate
from ..db.tables import ListEntry
from ..db.types import utcnow
from .addresses import valid_address
from .errors import Conflict, Invalid, NotFound
from .ids import new_uuid
from .principal import Principal, Scope
from .scoping import resolve_scope

DIRECTIONS = ("send", "receive", "reply")
LIST_TYPES = ("allow", "block")
MAX_REASON_LENGTH = 1024
ORG_SCOPE_KEY = "org"


# --- validation -----------------------------------------------------------------------------


def check_kind(direction: str, list_type: str) -> None:
    if direction not in DIRECTIONS:
        raise Invalid("direction must be one of send, receive, reply", path=["direction"])
    if list_type not in LIST_TYPES:
        raise Invalid("type must be allow or block", path=["type"])


def normalise_entry(entry: str) -> tuple[str, str]:
    """(entry, entry_type): a lower-case address ("email") or domain name ("domain"); 400 otherwise."""
    value = entry.strip().lower()
    kind = "email" if "@" in value else "domain"
    if kind == "domain":
        value = value.rstrip(".")
    try:
        if not value:
            raise EmailNotValidError("empty")
        # A domain is checked as the domain of an address, so both kinds follow the same rules.
        valid_address(value if kind == "email" else f"postmaster@{value}")
    except EmailNotValidError:
        raise Invalid("entry must be an email address or a domain name", path=["entry"]) from None
    return value, kind


def _lookup_value(entry: str) -> str:
    """A path segment as stored (lower-case; a domain without its trailing dot)."""
    value = entry.strip().lower()
    return value if "@" in value else value.rstrip(".")


def scope_key(scope: Scope) -> str:
    if scope.inbox_id is not None:
        return f"inbox#{scope.inbox_id}"
    if scope.pod_id is not None:
        return f"pod#{scope.pod_id}"
    return ORG_SCOPE_KEY


async def _target(
    session: AsyncSession, principal: Principal, pod_id: str | None, inbox_id: str | None
) -> Scope:
    scope = await resolve_scope(session, principal, pod_id=pod_id, inbox_id=inbox_id)
    if scope.inbox_id is not None and scope.pod_id is None:
        # An inbox-level row records its pod; fetch it when the key's scope did not carry it.
        scope = await resolve_scope(session, principal, inbox_id=scope.inbox_id)
    return scope


def _where(scope: Scope, direction: str, list_type: str) -> list[object]:
    return [
        ListEntry.organization_id == scope.organization_id,
        ListEntry.scope_key == scope_key(scope),
        ListEntry.direction == direction,
        ListEntry.list_type == list_type,
    ]


# --- CRUD -----------------------------------------------------------------------------------


async def list_entries(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    direction: str, list_type: str, limit: int | None, page_token: str | None,
) -> Page[ListEntry]:
    """Entries of one list, `entry` ascending (REFERENCE §1.8)."""
    principal.require("list_entry_read")
    check_kind(direction, list_type)
    size = check_limit(limit)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        stmt = select(ListEntry).where(*_where(scope, direction, list_type))
        return await paginate(
            session, stmt, endpoint=f"lists:{scope_key(scope)}:{direction}:{list_type}",
            order=[ListEntry.entry, ListEntry.id], limit=size, page_token=page_token, ascending=True,
        )


async def create_entry(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    direction: str, list_type: str, entry: str, reason: str | None,
) -> ListEntry:
    """Add an entry; a repeat answers the stored entry unchanged; the opposite list's copy is 409."""
    principal.require("list_entry_create")
    check_kind(direction, list_type)
    value, kind = normalise_entry(entry)
    if reason is not None and len(reason) > MAX_REASON_LENGTH:
        raise Invalid(f"reason must be at most {MAX_REASON_LENGTH} characters", path=["reason"])
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        key = scope_key(scope)
        # Allow and block rows of one entry differ in list_type, so the unique constraint cannot keep
        # them apart: serialise creators of this entry instead (SQLite writers already are).
        await db.serialize(session, f"list-entry:{scope.organization_id}:{key}:{direction}:{value}")
        existing = (await session.scalars(select(ListEntry).where(
            ListEntry.organization_id == scope.organization_id, ListEntry.scope_key == key,
            ListEntry.direction == direction, ListEntry.entry == value,
        ))).all()
        for row in existing:
            if row.list_type == list_type:
                return row
        if existing:
            other = existing[0].list_type
            raise Conflict(
                f"{value} is already on the {direction} {other} list; remove it there first",
                code="conflict",
                fix=f"Delete the entry from the {other} list, then add it to the {list_type} list",
            )
        row = ListEntry(
            id=new_uuid(), organization_id=scope.organization_id, pod_id=scope.pod_id,
            inbox_id=scope.inbox_id, scope_key=key, direction=direction, list_type=list_type, entry=value,
            entry_type=kind, reason=reason, read_only=False, created_at=utcnow(),
        )
        session.add(row)
    return row


async def _find(session: AsyncSession, scope: Scope, direction: str, list_type: str, entry: str) -> ListEntry:
    row = await session.scalar(
        select(ListEntry).where(*_where(scope, direction, list_type), ListEntry.entry == _lookup_value(entry))
    )
    if row is None:
        raise NotFound("Entry not found")
    return row


async def get_entry(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    direction: str, list_type: str, entry: str,
) -> ListEntry:
    principal.require("list_entry_read")
    check_kind(direction, list_type)
    async with db.read() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        return await _find(session, scope, direction, list_type, entry)


async def delete_entry(
    db: Database, principal: Principal, *, pod_id: str | None = None, inbox_id: str | None = None,
    direction: str, list_type: str, entry: str,
) -> None:
    principal.require("list_entry_delete")
    check_kind(direction, list_type)
    async with db.write() as session:
        scope = await _target(session, principal, pod_id, inbox_id)
        row = await _find(session, scope, direction, list_type, entry)
        if row.read_only:
            raise Conflict(
                f"{row.entry} is a service suppression and cannot be deleted", code="cannot_delete"
            )
        await session.delete(row)


async def suppress(session: AsyncSession, *, organization_id: str, address: str, reason: str) -> ListEntry:
    """Record a service suppression (hard bounce, complaint, unsubscribe) in the caller's transaction.

    It is a read-only entry on the organization's send block list, which `verdict` puts above every
    other rule and callers cannot delete. An existing caller entry on that list is promoted.
    """
    value = _lookup_value(parseaddr(address)[1] or address)
    row = await session.scalar(select(ListEntry).where(
        ListEntry.organization_id == organization_id, ListEntry.scope_key == ORG_SCOPE_KEY,
        ListEntry.direction == "send", ListEntry.list_type == "block", ListEntry.entry == value,
    ))
    if row is None:
        row = ListEntry(
            id=new_uuid(), organization_id=organization_id, pod_id=None, inbox_id=None, scope_key=ORG_SCOPE_KEY,
            direction="send", list_type="block", entry=value, entry_type="email" if "@" in value else "domain",
            reason=reason, read_only=True, created_at=utcnow(),
        )
        session.add(row)
    else:
        row.read_only = True
        row.reason = row.reason or reason
    await session.flush()
    return row


# --- the rule engine ------------------------------------------------------------------------


def _specificity(entry_type: str, entry: str) -> int:
    """An address beats every domain; a longer domain (a subdomain) beats its parent."""
    return 1_000 if entry_type == "email" else entry.count(".") + 1


async def verdict(
    session: AsyncSession, *, organization_id: str, pod_id: str, inbox_id: str, direction: str, address: str
) -> bool:
    """Whether `address` may pass `direction` for the inbox: True = allowed, False = blocked.

    `direction` is "send" (the address is a recipient), "receive" (the sender of new inbound mail)
    or "reply" (the sender of a reply in a conversation the inbox already sent into). `address` is a
    bare address (a "Name <addr>" form is reduced to addr); it is compared lower-cased.

    Candidate entries are those of this direction at the inbox level ("inbox#<inbox_id>"), the pod
    level ("pod#<pod_id>") and the organization level ("org") that match the address: an email
    entry equal to the address, or a domain entry equal to the address's domain or to one of its
    parent domains (entry "example.com" matches a@example.com and a@mail.example.com). Then:

    1. Read-only entries (service suppressions) beat everything: if any matches at any level, a
       read-only block blocks, else a read-only allow allows.
    2. Otherwise the most specific level with a matching entry decides, inbox > pod > org. Within
       that level the most specific entry wins: an email entry beats any domain entry, and a longer
       domain beats its parent (b.example.com beats example.com). Its list type is the answer:
       block → False, allow → True. (Equal specificity with both types cannot be created — 409 —
       but would resolve to block.)
    3. Nothing matched at any level: if any of the three levels has a non-empty allow list for this
       direction, that whitelist blocks the address → False.
    4. Otherwise → True. (So empty lists, e.g. empty reply lists, accept everyone.)

    One query, whatever the number of levels: the matching entries, and whether any level has an
    allow list at all. Runs in the caller's session; no HTTP or permission checks.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}")
    value = _lookup_value(parseaddr(address)[1] or address)
    _, at, domain = value.rpartition("@")
    labels = [label for label in domain.rstrip(".").split(".") if label]
    candidates = [".".join(labels[i:]) for i in range(len(labels))]
    if at:
        candidates.append(value)
    keys = {f"inbox#{inbox_id}": 0, f"pod#{pod_id}": 1, ORG_SCOPE_KEY: 2}
    common = [
        ListEntry.organization_id == organization_id,
        ListEntry.direction == direction,
        ListEntry.scope_key.in_(list(keys)),
    ]
    columns = (ListEntry.scope_key, ListEntry.list_type, ListEntry.entry_type, ListEntry.entry, ListEntry.read_only)
    # One statement: the matching entries (hit = 1), plus any one allow entry (hit = 0) for rule 3.
    any_allow = select(*columns, literal(0).label("hit")).where(*common, ListEntry.list_type == "allow").limit(1)
    rows = (await session.execute(union_all(
        select(*columns, literal(1).label("hit")).where(*common, ListEntry.entry.in_(candidates)),
        select(any_allow.subquery()),
    ))).all()
    matches = [row for row in rows if row.hit]

    suppressions = {m.list_type for m in matches if m.read_only}
    if suppressions:
        return "block" not in suppressions

    if matches:
        # Sort key: level (inbox first), then most specific entry, then block before allow.
        best = min(
            matches,
            key=lambda m: (keys[m.scope_key], -_specificity(m.entry_type, m.entry), m.list_type != "block"),
        )
        return bool(best.list_type == "allow")

    return len(rows) == len(matches)  # no allow list at any level
