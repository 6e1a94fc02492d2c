// Connects the official npm `agentmail` SDK's WebSocket client to an agentmail-server and prints,
// one JSON line each, what its handlers receive. Driven by tests/test_npm_sdk.py.
//
//   node ws_events.mjs <http base url> <api key> <inbox id> <events to wait for>
//
// Two clients connect: one configured with `baseUrl`, one with an explicit `environment`.
// Output lines: {"client", "kind": "open"|"message"|"error"|"close", "value"}; then {"kind": "done"}.
import { AgentMailClient } from "agentmail";

const [baseUrl, apiKey, inboxId, wanted] = process.argv.slice(2);
const expected = Number(wanted ?? 1);
const print = (client, kind, value) => console.log(JSON.stringify({ client, kind, value }));

const clients = {
  baseUrl: new AgentMailClient({ apiKey, baseUrl }),
  environment: new AgentMailClient({
    apiKey,
    environment: { http: baseUrl, websockets: baseUrl.replace(/^http/, "ws") },
  }),
};

const sockets = [];
let remaining = Object.keys(clients).length * expected;
const finish = (code) => {
  for (const socket of sockets) socket.close();
  print(null, "done", code);
  process.exit(code);
};
setTimeout(() => finish(2), 30000);

for (const [label, client] of Object.entries(clients)) {
  const socket = await client.websockets.connect({ reconnectAttempts: 0 });
  sockets.push(socket);
  socket.on("message", (message) => {
    print(label, "message", message);
    if (message.type === "event" && --remaining === 0) finish(0);
  });
  socket.on("error", (error) => print(label, "error", String(error?.message ?? error)));
  socket.on("close", (event) => print(label, "close", event?.code ?? null));
  await socket.waitForOpen();
  print(label, "open", null);
  socket.sendSubscribe({ type: "subscribe", inboxIds: [inboxId] });
}
