"""The official npm `agentmail` SDK (0.5.27, tests/node) receives WebSocket events from this server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from .mail_helpers import wait_for
from .node_lines import NodeLines
from .test_websocket import deliver, new_inbox

NODE_DIR = Path(__file__).parent / "node"
SCRIPT = NODE_DIR / "ws_events.mjs"


def _node() -> str:
    node = shutil.which("node")
    ready = node is not None and (NODE_DIR / "node_modules" / "agentmail" / "package.json").exists()
    if not ready:
        why = "node is not installed" if node is None else "run scripts/bootstrap (npm ci in tests/node)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"the npm SDK test must run under CI: {why}")
        pytest.skip(why)
    assert node is not None
    return node


class NodeClient(NodeLines):
    def __init__(self, *args: str) -> None:
        super().__init__([_node(), str(SCRIPT), *args], NODE_DIR)

    def until(self, predicate: Any, timeout: float = 20) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            while not self.lines.empty():
                self.seen.append(self.lines.get_nowait())
            return next((item for item in self.seen if predicate(item)), None)

        try:
            return wait_for(found, timeout=timeout, what="npm SDK output")
        except AssertionError:
            self.process.kill()
            _, err = self.process.communicate(timeout=5)
            raise AssertionError(f"seen: {self.seen}\nstderr: {err}") from None


def test_npm_sdk_receives_events(server, http):
    inbox, sender = new_inbox(http), new_inbox(http)
    client = NodeClient(server.base_url, server.api_key, inbox, "2")
    try:
        for label in ("baseUrl", "environment"):
            subscribed = client.until(lambda m, label=label: m["client"] == label and m["kind"] == "message")
            value = subscribed["value"]
            assert value["type"] == "subscribed" and value["inboxIds"] == [inbox], value
            assert value["eventTypes"][0] == "message.received"
        subject = deliver(server, http, inbox)
        response = http.post(f"/v0/inboxes/{sender}/messages/send",
                             json={"to": [inbox], "subject": "from the API", "text": "hi"})
        assert response.status_code == 200, response.text
        done = client.until(lambda m: m["kind"] == "done", timeout=30)
        assert done["value"] == 0, client.seen
        for label in ("baseUrl", "environment"):
            events = [m["value"] for m in client.seen
                      if m["client"] == label and m["kind"] == "message" and m["value"]["type"] == "event"]
            assert [e["message"]["subject"] for e in events] == [subject, "from the API"]
            for event in events:
                # Validated by the SDK's schema: camelCase accessors work (they would not on a raw object).
                assert event["eventType"] == "message.received" and event["eventId"]
                assert event["message"]["messageId"] and event["message"]["inboxId"] == inbox
                assert event["thread"]["threadId"] == event["message"]["threadId"]
                assert event["thread"]["messageCount"] >= 1
        assert not [m for m in client.seen if m["kind"] == "error"]
    finally:
        client.stop()
