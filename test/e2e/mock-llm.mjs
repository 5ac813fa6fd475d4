#!/usr/bin/env node
// Deterministic OpenAI-compatible mock model server for end-to-end tests.
// Plain Node, no dependencies. Listens on 127.0.0.1 only.
//
//   node test/e2e/mock-llm.mjs [--port N]      (env MOCK_LLM_PORT; 0 = pick a free port)
//
// Prints one JSON line to stdout once listening: {"event":"listening","port":N,"baseUrl":"http://127.0.0.1:N/v1"}
//
// Endpoints
//   POST /v1/chat/completions  stream:true -> SSE chunks ending with `data: [DONE]`; otherwise a chat.completion JSON
//   GET  /v1/models            lists the mock model ids
//   GET  /__requests           recorded requests: [{ at, path, model, stream, headers, messages, body, summary }]
//   GET  /__requests?summary=1 only { at, model, user, summary } per request (small)
//   DELETE /__requests         clears the record
//
// summary: what the model was given, for assertions that do not want to know each host's message layout:
//   { messageCount, roles, systemPrompts: string[], userTexts: string[] (the words, host wrappers stripped),
//     assistantTexts: string[], imageParts: number (all messages), answer }
//   GET  /__health             {"ok":true}
//
// Answer: the text of the last user message decides the reply, so tests can assert on it.
//   - contains "[[error]]"  -> HTTP 500 with an OpenAI-style error body
//   - contains "[[slow]]"   -> the stream waits 300 ms between chunks
//   - contains "[[empty]]"  -> an answer with no text at all (the stream ends after the role chunk)
//   - contains "SEND_IMAGE:<path>" -> `MOCK_IMAGE: <words before the marker>` and a markdown image
//                              `![chart](<path>)` on its own paragraph (a local image the channel must upload)
//   - contains "TOOL_MESSAGE:<channel>:<target>" -> a call of the host's `message` tool
//                              `{action:"send", channel, target, message:"<words before the marker>"}` (directly when
//                              the request offers `message`, else through OpenClaw's Tool Search `tool_call {id:"message",
//                              args}`; with neither `MOCK_NO_MESSAGE_TOOL: <offered tool names>`);
//                              once a tool result follows the user's words -> `MOCK_TOOL_RESULT: <its first 300 chars>`
//   - otherwise             -> `MOCK_ANSWER: <first line of the last user text>` (+ ` [images:N]` when image parts
//                              were sent); host-added context blocks and a leading "[<date> ...]" timestamp are stripped
// The reply is streamed in chunks of at most 8 characters. Each recorded streaming request tells how it ended:
// summary.stream = { chunks: content chunks written, closedEarly: the client closed the connection before the end }.
import http from "node:http";

const argPort = (() => {
  const i = process.argv.indexOf("--port");
  return i >= 0 ? process.argv[i + 1] : undefined;
})();
const PORT = Number(argPort ?? process.env.MOCK_LLM_PORT ?? 0);
const HOST = "127.0.0.1";
const MODELS = ["mock-model", "mock-vision"];

/** @type {Array<Record<string, unknown>>} */
const recorded = [];

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function partsOf(content) {
  if (typeof content === "string") return [{ type: "text", text: content }];
  return Array.isArray(content) ? content : [];
}

function textOf(content) {
  return partsOf(content)
    .filter((p) => p && (p.type === "text" || p.type === "input_text") && typeof p.text === "string")
    .map((p) => p.text)
    .join("\n");
}

function countImages(content) {
  return partsOf(content).filter((p) => p && (p.type === "image_url" || p.type === "input_image" || p.type === "image")).length;
}

// Hosts add their own material around the user's words: openclaw appends a separate user message
// holding only a <<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>> ... <<<END_...>>> block, prefixes the text with
// "[<timestamp>] ", in groups puts a "Conversation info: ⟦openclaw:ctx⟧" JSON block and a "[<name> says:]" line
// before the words, and may append a "Runtime: ..." paragraph. Strip those to get the words the user typed.
const CONTEXT_BLOCK = /<<<BEGIN_[A-Z_]*CONTEXT>>>[\s\S]*?<<<END_[A-Z_]*CONTEXT>>>/g;
function userWords(text) {
  const cleaned = text
    .replace(CONTEXT_BLOCK, "")
    .trim()
    .replace(/^\[[^\]]*\d{4}-\d{2}-\d{2}[^\]]*\]\s*/, "")
    .replace(/^Conversation info:[^\n]*\n```[a-z]*\n[\s\S]*?\n```\s*/, "")
    .replace(/^\[[^\]\n]* says:\]\s*/, "");
  return cleaned.split("\n").map((l) => l.trim()).find(Boolean) ?? "";
}

// OpenClaw answers an empty model turn with its own retry prompt(s); an [[empty]] question stays empty through them.
const HOST_EMPTY_RETRY = /^The previous (attempt|assistant turn).*did not produce a user-visible answer/;

function buildAnswer(messages) {
  const users = messages.filter((m) => m && m.role === "user");
  let last;
  for (let i = users.length - 1; i >= 0; i -= 1) {
    const t = textOf(users[i].content).replace(CONTEXT_BLOCK, "").trim();
    if (t || countImages(users[i].content)) {
      last = users[i];
      break;
    }
  }
  const text = last ? textOf(last.content) : "";
  const images = last ? countImages(last.content) : 0;
  const core = userWords(text);
  if (HOST_EMPTY_RETRY.test(core)) {
    const asked = users.map((u) => userWords(textOf(u.content))).filter((w) => w && !HOST_EMPTY_RETRY.test(w)).at(-1) ?? "";
    if (asked.includes("[[empty]]")) return { answer: "", text, images };
  }
  const image = /SEND_IMAGE:(\S+)/.exec(core);
  if (core.includes("[[empty]]")) return { answer: "", text, images };
  if (image) {
    const before = core.slice(0, image.index).trim();
    return { answer: `MOCK_IMAGE: ${before}\n\n![chart](${image[1]})`, text, images };
  }
  return { answer: `MOCK_ANSWER: ${core}${images ? ` [images:${images}]` : ""}`, text, images };
}

/** The tool call (or the answer after it) that TOOL_MESSAGE asks for; undefined when the request is not about it. */
function toolTurn(messages, tools) {
  // After the tool ran: its result follows the user's words (OpenClaw appends an internal-context user message after
  // it, so the result is not always the last message). Answer then, never call again: one send per question.
  let lastUser = -1;
  messages.forEach((m, i) => {
    if (m && m.role === "user" && (userWords(textOf(m.content)) || countImages(m.content))) lastUser = i;
  });
  const result = messages.slice(lastUser + 1).find((m) => m && m.role === "tool");
  if (result) return { answer: `MOCK_TOOL_RESULT: ${textOf(result.content).slice(0, 300)}` };
  const core = userWords(buildAnswer(messages).text);
  const marker = /TOOL_MESSAGE:([\w-]+):(\S+)/.exec(core);
  if (!marker) return undefined;
  const names = (Array.isArray(tools) ? tools : []).map((t) => t && t.function && t.function.name).filter(Boolean);
  const args = { action: "send", channel: marker[1], target: marker[2], message: core.slice(0, marker.index).trim() };
  const call = (name, a) => ({ toolCall: { id: `call_mock_${Date.now()}`, type: "function", function: { name, arguments: JSON.stringify(a) } } });
  if (names.includes("message")) return call("message", args);
  // OpenClaw ≥ 2026.9 offers most tools through its Tool Search: `tool_call {id, args}` calls one by name.
  if (names.includes("tool_call")) return call("tool_call", { id: "message", args });
  return { answer: `MOCK_NO_MESSAGE_TOOL: ${names.join(",")}` };
}

function chunk(str, size) {
  const out = [];
  for (let i = 0; i < str.length; i += size) out.push(str.slice(i, i + size));
  return out.length ? out : [""];
}

function summarize(messages, answer) {
  const of = (role) => messages.filter((m) => m && m.role === role);
  return {
    messageCount: messages.length,
    roles: messages.map((m) => (m && m.role) || "?"),
    systemPrompts: [...of("system"), ...of("developer")].map((m) => textOf(m.content)),
    userTexts: of("user").map((m) => userWords(textOf(m.content))).filter(Boolean),
    assistantTexts: of("assistant").map((m) => textOf(m.content)).filter(Boolean),
    imageParts: messages.reduce((n, m) => n + countImages(m && m.content), 0),
    answer,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function handleCompletions(req, res) {
  let body;
  try {
    body = JSON.parse((await readBody(req)) || "{}");
  } catch {
    return sendJson(res, 400, { error: { message: "invalid JSON body", type: "invalid_request_error" } });
  }
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const stream = body.stream === true;
  const built = buildAnswer(messages);
  const tool = toolTurn(messages, body.tools);
  const text = built.text;
  const answer = tool ? (tool.answer ?? "") : built.answer;
  const toolCall = tool && tool.toolCall;
  const entry = {
    at: Date.now(),
    path: req.url,
    model: body.model,
    stream,
    headers: { authorization: req.headers.authorization ?? null, "user-agent": req.headers["user-agent"] ?? null },
    messages,
    body,
    summary: { ...summarize(messages, answer), ...(toolCall ? { toolCall: toolCall.function } : {}) },
  };
  recorded.push(entry);
  if (text.includes("[[error]]")) {
    return sendJson(res, 500, { error: { message: "mock upstream failure", type: "server_error" } });
  }
  const id = `chatcmpl-mock-${recorded.length}`;
  const created = Math.floor(Date.now() / 1000);
  const model = typeof body.model === "string" ? body.model : MODELS[0];
  const usage = { prompt_tokens: 10, completion_tokens: answer.length, total_tokens: 10 + answer.length };
  if (toolCall && !stream) {
    return sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: null, tool_calls: [toolCall] }, finish_reason: "tool_calls" }],
      usage,
    });
  }
  if (toolCall) {
    res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
    const base = { id, object: "chat.completion.chunk", created, model };
    const write = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
    write({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: null, tool_calls: [{ index: 0, ...toolCall }] }, finish_reason: null }] });
    write({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "tool_calls" }] });
    if (body.stream_options && body.stream_options.include_usage) write({ ...base, choices: [], usage });
    res.write("data: [DONE]\n\n");
    return res.end();
  }
  if (!stream) {
    return sendJson(res, 200, {
      id,
      object: "chat.completion",
      created,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: answer }, finish_reason: "stop" }],
      usage,
    });
  }
  res.writeHead(200, { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", connection: "keep-alive" });
  const write = (obj) => res.write(`data: ${JSON.stringify(obj)}\n\n`);
  const base = { id, object: "chat.completion.chunk", created, model };
  write({ ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] });
  const slow = text.includes("[[slow]]");
  const progress = { chunks: 0, closedEarly: false };
  entry.summary.stream = progress;
  let ended = false;
  res.on("close", () => {
    if (!ended) progress.closedEarly = true;
  });
  for (const piece of answer ? chunk(answer, 8) : []) {
    if (slow) await sleep(300);
    if (progress.closedEarly) return;
    write({ ...base, choices: [{ index: 0, delta: { content: piece }, finish_reason: null }] });
    progress.chunks += 1;
  }
  ended = true;
  write({ ...base, choices: [{ index: 0, delta: {}, finish_reason: "stop" }] });
  if (body.stream_options && body.stream_options.include_usage) write({ ...base, choices: [], usage });
  res.write("data: [DONE]\n\n");
  res.end();
}

const server = http.createServer(async (req, res) => {
  try {
    const url = new URL(req.url ?? "/", `http://${HOST}`);
    const p = url.pathname.replace(/\/+$/, "");
    if (req.method === "POST" && (p === "/v1/chat/completions" || p === "/chat/completions")) return await handleCompletions(req, res);
    if (req.method === "GET" && (p === "/v1/models" || p === "/models")) {
      return sendJson(res, 200, { object: "list", data: MODELS.map((id) => ({ id, object: "model", created: 0, owned_by: "mock" })) });
    }
    if (p === "/__requests" && req.method === "GET") {
      if (!url.searchParams.has("summary")) return sendJson(res, 200, recorded);
      return sendJson(res, 200, recorded.map((r) => ({ at: r.at, model: r.model, user: r.body.user ?? null, summary: r.summary })));
    }
    if (p === "/__requests" && req.method === "DELETE") {
      recorded.length = 0;
      return sendJson(res, 200, { ok: true });
    }
    if (p === "/__health") return sendJson(res, 200, { ok: true });
    return sendJson(res, 404, { error: { message: `no route ${req.method} ${p}`, type: "not_found" } });
  } catch (err) {
    return sendJson(res, 500, { error: { message: String(err), type: "server_error" } });
  }
});

server.listen(PORT, HOST, () => {
  const { port } = /** @type {import("node:net").AddressInfo} */ (server.address());
  process.stdout.write(`${JSON.stringify({ event: "listening", port, baseUrl: `http://${HOST}:${port}/v1` })}\n`);
});

for (const sig of ["SIGINT", "SIGTERM"]) process.on(sig, () => server.close(() => process.exit(0)));
