"""The official agentmail-toolkit (PyPI 0.3.2) runs its tools against this server.

The toolkit wraps the `agentmail` SDK: `AgentMailToolkit(client=None)` falls back to `AgentMail()`, which
talks to AgentMail's production environment, so it is pointed here by handing it a client built on our
base URL (`AgentMail(environment=AgentMailEnvironment(http=..., websockets=...))`). Nothing else in the
toolkit needs changing. Only its framework-free core is used (`agentmail_toolkit.AgentMailToolkit`); the
OpenAI Agents / LangChain / LiveKit adapters wrap the same `Tool.func` calls.

Each call goes the way the framework adapters send it: the arguments a model would produce are first
checked against the tool's own parameter schema, then passed as a plain dict.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from agentmail import NotFoundError

from .conftest import _in_ci, make_sdk
from .mail_helpers import wait_for

try:
    from agentmail_toolkit import AgentMailToolkit
    from agentmail_toolkit.util import api_error_message
except ImportError:
    if _in_ci():  # under CI the toolkit must be there (scripts/bootstrap installs it)
        raise
    pytest.skip("agentmail-toolkit is not installed: run scripts/bootstrap", allow_module_level=True)


@pytest.fixture
def toolkit(server) -> AgentMailToolkit:
    return AgentMailToolkit(client=make_sdk(server))


def call(toolkit: AgentMailToolkit, name: str, **args: Any) -> dict[str, Any]:
    (tool,) = toolkit.get_tools([name])
    tool.params_schema.model_validate(args)  # what a model's arguments must satisfy
    result = tool.func(**args)
    return {} if result is None else result.model_dump(mode="json")


def test_exposes_the_official_tool_set(toolkit):
    names = {tool.name for tool in toolkit.get_tools()}
    assert {"list_inboxes", "get_inbox", "create_inbox", "delete_inbox", "list_threads", "get_thread",
            "get_attachment", "send_message", "reply_to_message", "forward_message", "update_message"} <= names


def test_inbox_tools(toolkit, http):
    username = f"tk-{uuid.uuid4().hex[:8]}"
    created = call(toolkit, "create_inbox", username=username, display_name="Toolkit Agent")
    inbox_id = created["inbox_id"]
    assert inbox_id == f"{username}@agentmail.localhost" and created["display_name"] == "Toolkit Agent"
    assert http.get(f"/v0/inboxes/{inbox_id}").status_code == 200

    assert call(toolkit, "get_inbox", inbox_id=inbox_id)["inbox_id"] == inbox_id

    listed = call(toolkit, "list_inboxes", limit=100)
    assert inbox_id in [inbox["inbox_id"] for inbox in listed["inboxes"]]
    assert listed["count"] >= 1

    # Paging through with the tool's own page_token parameter reaches the same inboxes.
    seen: list[str] = []
    page: dict[str, Any] = {"limit": 2}
    while True:
        result = call(toolkit, "list_inboxes", **page)
        seen += [inbox["inbox_id"] for inbox in result["inboxes"]]
        if not result.get("next_page_token"):
            break
        page = {"limit": 2, "page_token": result["next_page_token"]}
    assert inbox_id in seen and len(seen) == len(set(seen))

    assert call(toolkit, "delete_inbox", inbox_id=inbox_id) == {}
    wait_for(lambda: http.get(f"/v0/inboxes/{inbox_id}").status_code == 404, what="inbox deleted")


def test_errors_read_as_the_toolkit_reports_them(toolkit):
    missing = f"nobody-{uuid.uuid4().hex[:8]}@agentmail.localhost"
    with pytest.raises(NotFoundError) as caught:
        call(toolkit, "get_inbox", inbox_id=missing)
    message = api_error_message(caught.value)
    # The toolkit shows the body's message (not the bare exception name) and the status to the model.
    assert message.endswith("(HTTP 404)") and not message.startswith("NotFoundError"), message


def test_message_tools_round_trip(toolkit, http):
    sender = call(toolkit, "create_inbox", username=f"tk-from-{uuid.uuid4().hex[:8]}")["inbox_id"]
    recipient = call(toolkit, "create_inbox", username=f"tk-to-{uuid.uuid4().hex[:8]}")["inbox_id"]
    subject = f"toolkit {uuid.uuid4().hex[:8]}"

    sent = call(toolkit, "send_message", inbox_id=sender, to=[recipient], subject=subject,
                text="Hello from the toolkit", html="<p>Hello from the toolkit</p>", labels=["toolkit"])
    assert sent["message_id"] and sent["thread_id"]
    stored = http.get(f"/v0/inboxes/{sender}/messages/{sent['message_id']}")
    assert stored.status_code == 200, stored.text
    assert stored.json()["subject"] == subject and "toolkit" in stored.json()["labels"]

    # The sender's thread shows only with the sent label (it has no received message).
    outbound = call(toolkit, "list_threads", inbox_id=sender, labels=["sent"])
    assert sent["thread_id"] in [t["thread_id"] for t in outbound["threads"]]

    def arrived() -> dict[str, Any] | None:
        threads = call(toolkit, "list_threads", inbox_id=recipient, limit=10)["threads"]
        return next((t for t in threads if t["subject"] == subject), None)

    thread = wait_for(arrived, what="the message in the recipient's threads")
    assert thread["message_count"] == 1 and "unread" in thread["labels"]

    full = call(toolkit, "get_thread", inbox_id=recipient, thread_id=thread["thread_id"])
    (message,) = full["messages"]
    assert message["subject"] == subject and message["text"].strip() == "Hello from the toolkit"
    assert message["message_id"].startswith("<") and message["message_id"].endswith(">")

    updated = call(toolkit, "update_message", inbox_id=recipient, message_id=message["message_id"],
                   remove_labels=["unread"], add_labels=["seen-by-agent"])
    assert "unread" not in updated["labels"] and "seen-by-agent" in updated["labels"]

    reply = call(toolkit, "reply_to_message", inbox_id=recipient, message_id=message["message_id"],
                 text="Got it, thanks")
    assert reply["thread_id"] == thread["thread_id"]

    def replied() -> dict[str, Any] | None:
        result = call(toolkit, "get_thread", inbox_id=sender, thread_id=sent["thread_id"])
        return result if result["message_count"] == 2 else None

    back = wait_for(replied, what="the reply in the sender's thread")
    assert back["messages"][-1]["text"].startswith("Got it, thanks")

    forwarded = call(toolkit, "forward_message", inbox_id=recipient, message_id=message["message_id"],
                     to=[sender], text="FYI")
    fwd = http.get(f"/v0/inboxes/{recipient}/messages/{forwarded['message_id']}").json()
    assert fwd["subject"] == f"Fwd: {subject}", fwd
