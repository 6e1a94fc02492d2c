"""Allow/block lists (REFERENCE §2.11): CRUD through the official SDK, and the rule engine `verdict`.

Org-level lists affect every inbox of their organization, so every test that touches them works in a
fresh organization (`org` fixture) instead of the shared root one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from agentmail import AgentMail
from agentmail.core.api_error import ApiError
from sqlalchemy import event

from agentmail_server.db.engine import Database
from agentmail_server.schemas.lists import (
    ListEntry,
    ListListEntriesResponse,
    PodListEntry,
    PodListListEntriesResponse,
)
from agentmail_server.services import lists as list_service

from .conftest import make_http, make_sdk
from .server import Server
from .wire import error, ok


def _tag() -> str:
    return uuid.uuid4().hex[:10]


@dataclass
class Org:
    id: str
    key: str
    sdk: AgentMail
    http: httpx.Client


def _new_org(server: Server) -> Iterator[Org]:
    made = server.cli("create-organization")
    with make_http(server, made["api_key"]) as http:
        yield Org(made["organization_id"], made["api_key"], make_sdk(server, made["api_key"]), http)


@pytest.fixture
def org(server: Server) -> Iterator[Org]:
    """A fresh organization, so that its org-level lists disturb nobody."""
    yield from _new_org(server)


def _status(call: Any) -> int:
    with pytest.raises(ApiError) as exc:
        call()
    return exc.value.status_code  # type: ignore[no-any-return]


def _pod_and_inbox(sdk: AgentMail) -> tuple[str, str]:
    pod = sdk.pods.create(name=f"lists-{_tag()}")
    inbox = sdk.pods.inboxes.create(pod.pod_id, username=f"lists-{_tag()}")
    return pod.pod_id, inbox.inbox_id


def _key(http: httpx.Client, path: str, **body: Any) -> str:
    response = http.post(path, json={"name": "lists", **body})
    assert response.status_code == 200, response.text
    return response.json()["api_key"]  # type: ignore[no-any-return]


# --- CRUD -----------------------------------------------------------------------------------


def test_org_level_crud(org: Org):
    sdk, http = org.sdk, org.http
    created = sdk.lists.create("receive", "block", entry="  Spam+Promo@Example.COM ", reason="newsletters")
    assert created.entry == "spam+promo@example.com"
    assert created.entry_type == "email" and created.direction == "receive" and created.list_type == "block"
    assert created.organization_id == org.id and created.reason == "newsletters" and created.read_only is False

    # The un-prefixed routes answer exactly the ListEntry model: no pod_id / inbox_id.
    body = ok(ListEntry, http.get("/v0/lists/receive/block/spam%2Bpromo%40example.com"))
    assert body.entry == "spam+promo@example.com"
    assert body.created_at == created.created_at
    # Python sends '@' and '+' raw; upper case in the path finds the lower-cased entry.
    assert sdk.lists.get("receive", "block", "SPAM+promo@example.com").entry == "spam+promo@example.com"

    # A repeat is idempotent: the stored entry, unchanged.
    again = ok(ListEntry, http.post("/v0/lists/receive/block", json={"entry": "spam+promo@example.com",
                                                                     "reason": "changed"}))
    assert again.reason == "newsletters" and again.created_at == created.created_at

    domain = sdk.lists.create("receive", "block", entry="Bulk.Example.NET.")
    assert domain.entry == "bulk.example.net" and domain.entry_type == "domain" and domain.reason is None
    assert "reason" not in http.get("/v0/lists/receive/block/bulk.example.net").json()

    listed = ok(ListListEntriesResponse, http.get("/v0/lists/receive/block"))
    assert [e.entry for e in listed.entries] == ["bulk.example.net", "spam+promo@example.com"]
    assert listed.count == 2 and listed.next_page_token is None
    assert sdk.lists.list("receive", "allow").count == 0
    assert sdk.lists.list("send", "block").count == 0

    # The same entry on the opposite list of the same direction: 409; another direction is fine.
    error(http.post("/v0/lists/receive/allow", json={"entry": "SPAM+promo@example.com"}), 409, "conflict")
    assert sdk.lists.create("send", "allow", entry="spam+promo@example.com").list_type == "allow"

    sdk.lists.delete("receive", "block", "spam+promo@example.com")
    body = error(http.get("/v0/lists/receive/block/spam+promo@example.com"), 404, "not_found")
    assert body["message"] == "Entry not found"
    assert _status(lambda: sdk.lists.delete("receive", "block", "spam+promo@example.com")) == 404
    assert http.delete("/v0/lists/receive/block/bulk.example.net").status_code == 204
    assert sdk.lists.list("receive", "block").count == 0
    # Now the allow list may take it.
    assert sdk.lists.create("receive", "allow", entry="spam+promo@example.com").list_type == "allow"


def test_pod_and_inbox_level_crud(sdk, http, server):
    pod_id, inbox_id = _pod_and_inbox(sdk)
    tag = _tag()
    pod_entry = sdk.pods.lists.create(pod_id, "send", "allow", entry=f"Partner-{tag}.example", reason="ok")
    assert pod_entry.pod_id == pod_id and pod_entry.inbox_id is None and pod_entry.entry_type == "domain"
    raw = ok(PodListEntry, http.get(f"/v0/pods/{pod_id}/lists/send/allow/partner-{tag}.example"))
    assert raw.pod_id == pod_id and raw.inbox_id is None and raw.reason == "ok"

    inbox_entry = sdk.inboxes.lists.create(inbox_id, "reply", "block", entry=f"troll@{tag}.example")
    assert inbox_entry.inbox_id == inbox_id and inbox_entry.pod_id == pod_id
    raw = ok(PodListEntry, http.get(f"/v0/inboxes/{inbox_id.replace('@', '%40')}/lists/reply/block/"
                                    f"troll%40{tag}.example"))
    assert raw.inbox_id == inbox_id and raw.pod_id == pod_id and raw.entry_type == "email"
    assert sdk.inboxes.lists.get(inbox_id, "reply", "block", f"troll@{tag}.example").entry == f"troll@{tag}.example"

    # Levels are separate lists: the pod's list does not show the inbox's entries, nor the org's.
    pods_list = ok(PodListListEntriesResponse, http.get(f"/v0/pods/{pod_id}/lists/reply/block"))
    assert pods_list.count == 0
    assert [e.entry for e in sdk.inboxes.lists.list(inbox_id, "reply", "block").entries] == [f"troll@{tag}.example"]
    inbox_list = ok(PodListListEntriesResponse, http.get(f"/v0/inboxes/{inbox_id}/lists/reply/block"))
    assert inbox_list.entries[0].inbox_id == inbox_id
    error(http.get(f"/v0/lists/reply/block/troll@{tag}.example"), 404, "not_found")
    # ...so opposite types at different levels do not conflict.
    assert sdk.inboxes.lists.create(inbox_id, "send", "block", entry=f"partner-{tag}.example").list_type == "block"
    assert sdk.pods.lists.create(pod_id, "reply", "allow", entry=f"troll@{tag}.example").list_type == "allow"
    error(http.post(f"/v0/pods/{pod_id}/lists/send/block", json={"entry": f"partner-{tag}.example"}),
          409, "conflict")
    # Idempotent at pod and inbox level too.
    assert sdk.pods.lists.create(pod_id, "send", "allow", entry=f"partner-{tag}.example").created_at \
        == pod_entry.created_at
    assert sdk.inboxes.lists.create(inbox_id, "reply", "block", entry=f"TROLL@{tag}.example").created_at \
        == inbox_entry.created_at

    sdk.pods.lists.delete(pod_id, "send", "allow", f"partner-{tag}.example")
    sdk.inboxes.lists.delete(inbox_id, "reply", "block", f"troll@{tag}.example")
    assert _status(lambda: sdk.pods.lists.get(pod_id, "send", "allow", f"partner-{tag}.example")) == 404
    assert _status(lambda: sdk.inboxes.lists.get(inbox_id, "reply", "block", f"troll@{tag}.example")) == 404
    error(http.delete(f"/v0/inboxes/{inbox_id}/lists/reply/block/troll@{tag}.example"), 404, "not_found")
    error(http.get(f"/v0/pods/{pod_id}/lists/send/block/nobody.example"), 404, "not_found")


def test_entries_go_with_their_pod_or_inbox(sdk, http, server):
    pod_id, inbox_id = _pod_and_inbox(sdk)
    sdk.pods.lists.create(pod_id, "receive", "block", entry="gone.example")
    sdk.inboxes.lists.create(inbox_id, "receive", "block", entry="gone.example")
    sdk.pods.inboxes.delete(pod_id, inbox_id)
    error(http.get(f"/v0/inboxes/{inbox_id}/lists/receive/block/gone.example"), 404)
    assert sdk.pods.lists.list(pod_id, "receive", "block").count == 1
    # List entries are the pod's settings, not contents: they do not keep it from being deleted.
    sdk.pods.delete(pod_id)
    error(http.get(f"/v0/pods/{pod_id}/lists/receive/block"), 404)


def test_validation_errors(sdk, http, server):
    pod_id, inbox_id = _pod_and_inbox(sdk)
    for prefix in ("/v0", f"/v0/pods/{pod_id}", f"/v0/inboxes/{inbox_id}"):
        error(http.get(f"{prefix}/lists/inbound/block"), 400, "validation_error")
        error(http.get(f"{prefix}/lists/send/deny"), 400, "validation_error")
        error(http.post(f"{prefix}/lists/outbound/allow", json={"entry": "a@b.example"}), 400)
        error(http.post(f"{prefix}/lists/send/whitelist", json={"entry": "a@b.example"}), 400)
        error(http.get(f"{prefix}/lists/send/deny/a@b.example"), 400)
        error(http.delete(f"{prefix}/lists/sideways/block/a@b.example"), 400)
    bad_entries = ["", "   ", "not an address", "@example.com", "user@", "a@b@c.example", "com", "1.2.3.4",
                   "*.example.com", "exa_mple.com", "-bad.example", "a..b.example", "Bob <bob@example.com>",
                   "x" * 300 + ".example", 7, None]
    for entry in bad_entries:
        body = error(http.post("/v0/lists/receive/block", json={"entry": entry}), 400, "validation_error")
        assert body["errors"][0]["path"][-1] == "entry", (entry, body)
    error(http.post("/v0/lists/receive/block", json={}), 400)
    error(http.post("/v0/lists/receive/block"), 400)
    error(http.post("/v0/lists/receive/block", content=b"{", headers={"content-type": "application/json"}), 400)
    tag = _tag()
    body = error(http.post(f"/v0/pods/{pod_id}/lists/receive/block",
                           json={"entry": f"{tag}.example", "reason": "r" * 1025}), 400)
    assert body["errors"][0]["path"] == ["reason"]
    assert _status(lambda: sdk.inboxes.lists.create(inbox_id, "receive", "block", entry="nope")) == 400
    # Exactly 1024 characters is fine; so are this server's own special-use domains and IDNs.
    assert len(sdk.pods.lists.create(pod_id, "receive", "block", entry=f"{tag}.example",
                                     reason="r" * 1024).reason or "") == 1024
    for entry in ("agentmail.localhost", f"bot-{tag}@agentmail.localhost", "qa.test", "münchen.example"):
        assert sdk.pods.lists.create(pod_id, "send", "allow", entry=entry).entry == entry.lower()
    # Paging parameters.
    error(http.get(f"/v0/pods/{pod_id}/lists/send/allow", params={"limit": 0}), 400)
    error(http.get(f"/v0/pods/{pod_id}/lists/send/allow", params={"limit": "many"}), 400)
    error(http.get(f"/v0/pods/{pod_id}/lists/send/allow", params={"page_token": "garbage"}), 400)


def test_pagination_and_sort_order(sdk, http, server):
    pod_id, _ = _pod_and_inbox(sdk)
    entries = ["zeta.example", "alpha@b.example", "mid.example", "a.example", "Beta@b.example", "omega.example",
               "c@a.example"]
    for entry in entries:
        sdk.pods.lists.create(pod_id, "receive", "block", entry=entry)
    expected = sorted(e.lower() for e in entries)
    seen: list[str] = []
    token = None
    while True:
        page = ok(PodListListEntriesResponse, http.get(
            f"/v0/pods/{pod_id}/lists/receive/block", params={"limit": 3, **({"page_token": token} if token else {})}
        ))
        assert page.count == len(page.entries) <= 3 and page.limit == 3
        seen += [e.entry for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert seen == expected
    assert [e.entry for e in sdk.pods.lists.list(pod_id, "receive", "block").entries] == expected
    first = sdk.pods.lists.list(pod_id, "receive", "block", limit=2)
    assert first.count == 2 and first.next_page_token
    second = sdk.pods.lists.list(pod_id, "receive", "block", limit=2, page_token=first.next_page_token)
    assert [e.entry for e in second.entries] == expected[2:4]
    # Tokens are bound to their list.
    error(http.get(f"/v0/pods/{pod_id}/lists/receive/allow", params={"page_token": first.next_page_token}), 400)
    error(http.get("/v0/lists/receive/block", params={"page_token": first.next_page_token}), 400)


# --- tenancy, scoped keys, permissions ------------------------------------------------------


def test_other_organizations_see_404(sdk, http, server, org):
    pod_id, inbox_id = _pod_and_inbox(sdk)
    tag = _tag()
    sdk.pods.lists.create(pod_id, "receive", "block", entry=f"{tag}.example")
    sdk.inboxes.lists.create(inbox_id, "receive", "block", entry=f"{tag}.example")
    foreign = org.http
    for prefix in (f"/v0/pods/{pod_id}", f"/v0/inboxes/{inbox_id}"):
        error(foreign.get(f"{prefix}/lists/receive/block"), 404, "not_found")
        error(foreign.get(f"{prefix}/lists/receive/block/{tag}.example"), 404, "not_found")
        error(foreign.post(f"{prefix}/lists/receive/block", json={"entry": f"x.{tag}.example"}), 404, "not_found")
        error(foreign.delete(f"{prefix}/lists/receive/block/{tag}.example"), 404, "not_found")
    assert _status(lambda: org.sdk.pods.lists.list(pod_id, "receive", "block")) == 404
    # Org-level lists are per organization.
    org.sdk.lists.create("send", "block", entry=f"{tag}.example")
    error(http.get(f"/v0/lists/send/block/{tag}.example"), 404)
    assert f"{tag}.example" not in [e.entry for e in sdk.lists.list("send", "block", limit=1000).entries]
    # The entry still exists in the pod.
    assert sdk.pods.lists.get(pod_id, "receive", "block", f"{tag}.example").pod_id == pod_id


def test_pod_and_inbox_keys_work_at_their_own_level(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    other_pod, other_inbox = _pod_and_inbox(org.sdk)
    tag = _tag()
    pod_key = _key(org.http, f"/v0/pods/{pod_id}/api-keys")
    inbox_key = _key(org.http, f"/v0/inboxes/{inbox_id}/api-keys")

    with make_http(server, pod_key) as as_pod:
        made = ok(ListEntry, as_pod.post("/v0/lists/send/block", json={"entry": f"pod-{tag}.example"}))
        assert made.organization_id == org.id
        assert ok(ListListEntriesResponse, as_pod.get("/v0/lists/send/block")).count == 1
        ok(PodListEntry, as_pod.get(f"/v0/pods/{pod_id}/lists/send/block/pod-{tag}.example"))
        error(as_pod.get(f"/v0/pods/{other_pod}/lists/send/block"), 404)
        error(as_pod.post(f"/v0/inboxes/{other_inbox}/lists/send/block", json={"entry": "x.example"}), 404)
        ok(PodListEntry, as_pod.post(f"/v0/inboxes/{inbox_id}/lists/send/block", json={"entry": "x.example"}),
           200)
    # The pod key wrote pod-level entries: the org key finds them under the pod, not at org level.
    assert org.sdk.pods.lists.get(pod_id, "send", "block", f"pod-{tag}.example").inbox_id is None
    assert org.sdk.lists.list("send", "block").count == 0

    with make_http(server, inbox_key) as as_inbox:
        ok(ListEntry, as_inbox.post("/v0/lists/receive/allow", json={"entry": f"inbox-{tag}.example"}))
        assert [e.entry for e in ok(ListListEntriesResponse, as_inbox.get("/v0/lists/send/block")).entries] \
            == ["x.example"]
        error(as_inbox.get(f"/v0/inboxes/{other_inbox}/lists/receive/allow"), 404)
        error(as_inbox.get(f"/v0/pods/{other_pod}/lists/receive/allow"), 404)
        # Its own pod's route stays at the inbox's level: it never sees the pod's entries.
        listed = ok(PodListListEntriesResponse, as_inbox.get(f"/v0/pods/{pod_id}/lists/send/block"))
        assert [(e.entry, e.inbox_id) for e in listed.entries] == [("x.example", inbox_id)]
        error(as_inbox.delete(f"/v0/pods/{pod_id}/lists/send/block/pod-{tag}.example"), 404)
    got = org.sdk.inboxes.lists.get(inbox_id, "receive", "allow", f"inbox-{tag}.example")
    assert got.inbox_id == inbox_id and got.pod_id == pod_id
    assert org.sdk.lists.list("receive", "allow").count == 0


def test_permissions(org: Org, server: Server):
    pod_id, _ = _pod_and_inbox(org.sdk)
    org.sdk.pods.lists.create(pod_id, "receive", "block", entry="kept.example")
    read_only = _key(org.http, "/v0/api-keys", permissions={"list_entry_read": True})
    no_lists = _key(org.http, "/v0/api-keys", permissions={"inbox_read": True})
    writer = _key(org.http, "/v0/api-keys", permissions={"list_entry_create": True})
    with make_http(server, read_only) as reader:
        assert ok(PodListListEntriesResponse, reader.get(f"/v0/pods/{pod_id}/lists/receive/block")).count == 1
        ok(PodListEntry, reader.get(f"/v0/pods/{pod_id}/lists/receive/block/kept.example"))
        error(reader.post("/v0/lists/receive/block", json={"entry": "a.example"}), 403, "missing_permission")
        error(reader.delete(f"/v0/pods/{pod_id}/lists/receive/block/kept.example"), 403, "missing_permission")
    with make_http(server, no_lists) as outsider:
        error(outsider.get("/v0/lists/receive/block"), 403, "missing_permission")
        error(outsider.get(f"/v0/pods/{pod_id}/lists/receive/block/kept.example"), 403, "missing_permission")
    with make_http(server, writer) as creator:
        ok(PodListEntry, creator.post(f"/v0/pods/{pod_id}/lists/receive/block", json={"entry": "new.example"}))
        error(creator.get(f"/v0/pods/{pod_id}/lists/receive/block"), 403, "missing_permission")
    with make_http(server, "") as anonymous:
        error(anonymous.get("/v0/lists/receive/block"), 401)


# --- the rule engine ------------------------------------------------------------------------


class Verdicts:
    """Calls `verdict` against the server's own database, the way mail handling does."""

    def __init__(self, server: Server, organization_id: str) -> None:
        self.url = server.database_url
        self.organization_id = organization_id

    def __call__(self, pod_id: str, inbox_id: str, direction: str, addresses: list[str]) -> dict[str, bool]:
        return asyncio.run(self._run(pod_id, inbox_id, direction, addresses))

    async def _run(self, pod_id: str, inbox_id: str, direction: str, addresses: list[str]) -> dict[str, bool]:
        db = Database(self.url)
        statements: list[str] = []

        def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            if statement.lstrip().upper().startswith("SELECT"):
                statements.append(statement)

        event.listen(db.read_engine.sync_engine, "before_cursor_execute", count)
        try:
            answers: dict[str, bool] = {}
            async with db.read() as session:
                for address in addresses:
                    before = len(statements)
                    answers[address] = await list_service.verdict(
                        session, organization_id=self.organization_id, pod_id=pod_id, inbox_id=inbox_id,
                        direction=direction, address=address,
                    )
                    assert len(statements) - before == 1, statements[before:]
            return answers
        finally:
            await db.dispose()

    def suppress(self, address: str, reason: str = "hard bounce") -> None:
        async def run() -> None:
            db = Database(self.url)
            try:
                async with db.write() as session:
                    await list_service.suppress(session, organization_id=self.organization_id, address=address,
                                                reason=reason)
            finally:
                await db.dispose()

        asyncio.run(run())


def _expect(verdicts: Verdicts, pod_id: str, inbox_id: str, direction: str, expected: dict[str, bool]) -> None:
    assert verdicts(pod_id, inbox_id, direction, list(expected)) == expected


def test_verdict_without_entries_allows_everyone(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    verdicts = Verdicts(server, org.id)
    for direction in ("send", "receive", "reply"):
        _expect(verdicts, pod_id, inbox_id, direction, {"anyone@example.com": True, "x@y.example": True})
    with pytest.raises(ValueError):
        verdicts(pod_id, inbox_id, "sideways", ["a@b.example"])


def test_verdict_block_entries_and_domain_matching(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    org.sdk.lists.create("receive", "block", entry="evil.example")
    org.sdk.lists.create("receive", "block", entry="bad@good.example")
    _expect(Verdicts(server, org.id), pod_id, inbox_id, "receive", {
        "a@evil.example": False,
        "a@Mail.EVIL.example": False,         # subdomains match
        "a@deep.mail.evil.example": False,
        "a@notevil.example": True,            # only whole labels match
        "a@evil.example.org": True,
        "bad@good.example": False,
        "BAD@good.example": False,            # compared lower-cased
        "Bad Guy <bad@good.example>": False,  # a header form is reduced to its address
        "bad@sub.good.example": True,         # an address entry is exact
        "other@good.example": True,
        "good.example": True,
    })
    # Lists are per direction.
    for direction in ("send", "reply"):
        _expect(Verdicts(server, org.id), pod_id, inbox_id, direction, {"a@evil.example": True,
                                                                        "bad@good.example": True})


def test_verdict_most_specific_scope_wins(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    sibling = org.sdk.pods.inboxes.create(pod_id, username=f"sib-{_tag()}").inbox_id
    other_pod, other_inbox = _pod_and_inbox(org.sdk)
    org.sdk.lists.create("receive", "block", entry="corp.example")
    org.sdk.pods.lists.create(pod_id, "receive", "allow", entry="corp.example")
    org.sdk.inboxes.lists.create(inbox_id, "receive", "block", entry="intern@corp.example")
    verdicts = Verdicts(server, org.id)
    _expect(verdicts, pod_id, inbox_id, "receive", {
        "intern@corp.example": False,     # inbox block beats the pod's allow
        "boss@corp.example": True,        # pod allow beats the org's block
        "stranger@else.example": False,   # the pod's allow list is a whitelist
    })
    _expect(verdicts, pod_id, sibling, "receive", {
        "intern@corp.example": True,      # the inbox entry is that inbox's alone
        "boss@corp.example": True,
        "stranger@else.example": False,
    })
    _expect(verdicts, other_pod, other_inbox, "receive", {
        "intern@corp.example": False,     # only the org's block applies here
        "boss@corp.example": False,
        "stranger@else.example": True,    # no allow list in this chain
    })
    # A less specific scope's address entry loses to a more specific scope's domain entry.
    org.sdk.lists.create("send", "allow", entry="vip@w.example")
    org.sdk.inboxes.lists.create(inbox_id, "send", "block", entry="w.example")
    _expect(verdicts, pod_id, inbox_id, "send", {"vip@w.example": False, "x@w.example": False})
    _expect(verdicts, pod_id, sibling, "send", {"vip@w.example": True, "x@w.example": False})


def test_verdict_address_beats_domain_within_a_scope(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    verdicts = Verdicts(server, org.id)
    org.sdk.inboxes.lists.create(inbox_id, "receive", "block", entry="x.example")
    org.sdk.inboxes.lists.create(inbox_id, "receive", "allow", entry="vip@x.example")
    _expect(verdicts, pod_id, inbox_id, "receive", {
        "vip@x.example": True,            # the address entry beats its domain's block
        "other@x.example": False,
        "vip@sub.x.example": False,
        "someone@else.example": False,    # the inbox's receive allow list is not empty
    })
    # Among domains, the longer (subdomain) entry is the more specific one.
    org.sdk.pods.lists.create(pod_id, "send", "allow", entry="y.example")
    org.sdk.pods.lists.create(pod_id, "send", "block", entry="mail.y.example")
    _expect(verdicts, pod_id, inbox_id, "send", {
        "a@mail.y.example": False,
        "a@smtp.mail.y.example": False,
        "a@y.example": True,
        "a@other.y.example": True,
        "a@z.example": False,             # not on the pod's send allow list
    })
    org.sdk.pods.lists.create(pod_id, "reply", "block", entry="y.example")
    org.sdk.pods.lists.create(pod_id, "reply", "allow", entry="mail.y.example")
    _expect(verdicts, pod_id, inbox_id, "reply", {"a@mail.y.example": True, "a@y.example": False,
                                                  "a@z.example": False})


def test_verdict_allow_lists_and_empty_reply_lists(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    sibling = org.sdk.pods.inboxes.create(pod_id, username=f"sib-{_tag()}").inbox_id
    verdicts = Verdicts(server, org.id)
    org.sdk.inboxes.lists.create(inbox_id, "reply", "allow", entry="partner.example")
    _expect(verdicts, pod_id, inbox_id, "reply", {"a@partner.example": True, "a@stranger.example": False})
    _expect(verdicts, pod_id, sibling, "reply", {"a@partner.example": True, "a@stranger.example": True})
    _expect(verdicts, pod_id, inbox_id, "receive", {"a@stranger.example": True})
    # An org allow list whitelists for every inbox; a more specific block still wins.
    org.sdk.lists.create("send", "allow", entry="ok.example")
    org.sdk.pods.lists.create(pod_id, "send", "block", entry="no@ok.example")
    _expect(verdicts, pod_id, sibling, "send", {"a@ok.example": True, "no@ok.example": False,
                                                "a@nope.example": False})
    # Emptying the allow list lifts the whitelist.
    org.sdk.lists.delete("send", "allow", "ok.example")
    _expect(verdicts, pod_id, sibling, "send", {"a@nope.example": True, "no@ok.example": False})


def test_suppressions_beat_everything_and_cannot_be_deleted(org: Org, server: Server):
    pod_id, inbox_id = _pod_and_inbox(org.sdk)
    verdicts = Verdicts(server, org.id)
    org.sdk.inboxes.lists.create(inbox_id, "send", "allow", entry="bounced@ok.example")
    org.sdk.pods.lists.create(pod_id, "send", "allow", entry="ok.example")
    org.sdk.lists.create("send", "block", entry="promoted@ok.example", reason="mine")
    verdicts.suppress("Bounced@OK.example")
    verdicts.suppress("promoted@ok.example", reason="complaint")
    _expect(verdicts, pod_id, inbox_id, "send", {
        "bounced@ok.example": False,      # beats the inbox's explicit allow
        "promoted@ok.example": False,
        "fine@ok.example": True,
    })
    _expect(verdicts, pod_id, inbox_id, "receive", {"bounced@ok.example": True})

    body = ok(ListEntry, org.http.get("/v0/lists/send/block/bounced@ok.example"))
    assert body.read_only is True and body.reason == "hard bounce"
    promoted = org.sdk.lists.get("send", "block", "promoted@ok.example")
    assert promoted.read_only is True and promoted.reason == "mine"
    error(org.http.delete("/v0/lists/send/block/bounced@ok.example"), 409, "cannot_delete")
    # (The Python SDK retries 409s; no need to wait for that here.)
    assert _status(lambda: org.sdk.lists.delete("send", "block", "promoted@ok.example",
                                                request_options={"max_retries": 0})) == 409
    error(org.http.post("/v0/lists/send/allow", json={"entry": "bounced@ok.example"}), 409, "conflict")
    again = ok(ListEntry, org.http.post("/v0/lists/send/block", json={"entry": "bounced@ok.example"}))
    assert again.read_only is True and again.created_at == body.created_at
    assert org.sdk.lists.get("send", "block", "bounced@ok.example").read_only is True
