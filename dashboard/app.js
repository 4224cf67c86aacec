// Operator dashboard: a thin client of the public REST API (no private endpoints, no build step).
// Everything shown comes from the API and is written with textContent, never as HTML.
"use strict";

const view = document.getElementById("view");
const KEY_STORAGE = "metachat.dashboard.key";
let apiKey = sessionStorage.getItem(KEY_STORAGE) || "";

// ---------- helpers ----------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else if (value !== false && value != null) node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child == null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function toast(message, isError = false) {
  const item = el("div", { class: isError ? "error" : "" }, message);
  document.getElementById("toast").append(item);
  setTimeout(() => item.remove(), isError ? 8000 : 3500);
}

class ApiError extends Error {}

async function api(method, path, body, { raw = false } = {}) {
  const headers = { Authorization: `Bearer ${apiKey}` };
  let payload = body;
  if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(path, { method, headers, body: payload });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = data.error || {};
    if (response.status === 401 && !raw) signOut();
    throw new ApiError(`${response.status} ${error.code || ""}: ${error.message || response.statusText}`);
  }
  return data;
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    toast(error.message, true);
  }
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function badge(text) {
  return el("span", { class: `badge ${text}` }, text);
}

function table(headers, rows) {
  return el(
    "table",
    {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.length ? rows : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "Nothing yet."))),
  );
}

function parseJson(text, label) {
  try {
    return text.trim() ? JSON.parse(text) : {};
  } catch {
    throw new ApiError(`${label} is not valid JSON`);
  }
}

function showOnce(title, secret) {
  return el("section", { role: "alert" }, el("h2", {}, title), el("p", {}, "Shown only now. Store it safely."), el("div", { class: "secret" }, secret));
}

function render(...nodes) {
  view.replaceChildren(...nodes);
  view.focus();
}

// ---------- sign in ----------

function signOut() {
  apiKey = "";
  sessionStorage.removeItem(KEY_STORAGE);
  document.getElementById("who").textContent = "";
  document.getElementById("logout").hidden = true;
  route();
}

document.getElementById("logout").addEventListener("click", signOut);

function signInView() {
  const input = el("input", { type: "password", id: "key", required: true, autocomplete: "off", size: 50 });
  render(
    el(
      "section",
      {},
      el("h2", {}, "Sign in with an API key"),
      el("p", { class: "muted" }, "An admin key (printed by `metachat run` on first start) or a tenant key."),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            apiKey = input.value.trim();
            guarded(async () => {
              await api("GET", "/api/tenants?limit=1", undefined, { raw: true });
              sessionStorage.setItem(KEY_STORAGE, apiKey);
              route();
            });
          },
        },
        el("label", { for: "key" }, "API key", input),
        el("button", { type: "submit" }, "Sign in"),
      ),
    ),
  );
}

// ---------- tenants ----------

async function tenantsView() {
  const page = await api("GET", "/api/tenants?limit=200");
  document.getElementById("who").textContent = "Signed in";
  document.getElementById("logout").hidden = false;
  const name = el("input", { id: "tenant-name", required: true, maxlength: 200 });
  const rows = page.items.map((tenant) =>
    el(
      "tr",
      {},
      el("td", {}, el("a", { href: `#/tenants/${tenant.id}` }, tenant.name)),
      el("td", {}, tenant.settings.locale),
      el("td", { class: "muted" }, tenant.id),
      el("td", {}, when(tenant.created_at)),
    ),
  );
  render(
    el("section", {}, el("h2", {}, "Tenants"), table(["Name", "Locale", "Id", "Created"], rows)),
    el(
      "section",
      {},
      el("h2", {}, "New tenant (admin)"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              const tenant = await api("POST", "/api/tenants", { name: name.value });
              location.hash = `#/tenants/${tenant.id}`;
            });
          },
        },
        el("label", { for: "tenant-name" }, "Name", name),
        el("button", { type: "submit" }, "Create"),
      ),
    ),
  );
}

const TABS = ["settings", "channels", "knowledge", "conversations", "webhooks", "keys"];

async function tenantView(tenantId, tab, extra) {
  const tenant = await api("GET", `/api/tenants/${tenantId}`);
  const tabs = el(
    "div",
    { class: "tabs", role: "tablist" },
    TABS.map((name) =>
      el("button", { role: "tab", "aria-selected": String(name === tab), onclick: () => (location.hash = `#/tenants/${tenantId}/${name}`) }, name),
    ),
  );
  const body = await TAB_VIEWS[tab](tenant, extra);
  render(el("p", {}, el("a", { href: "#/" }, "← Tenants")), el("h2", {}, tenant.name), tabs, ...[body].flat());
}

function settingsTab(tenant) {
  const editor = el("textarea", { id: "settings", rows: 18 }, JSON.stringify(tenant.settings, null, 2));
  return el(
    "section",
    {},
    el("h2", {}, "Settings"),
    el(
      "form",
      {
        onsubmit: (event) => {
          event.preventDefault();
          guarded(async () => {
            await api("PATCH", `/api/tenants/${tenant.id}`, { settings: parseJson(editor.value, "Settings") });
            toast("Settings saved");
          });
        },
      },
      el("label", { for: "settings" }, "Tenant settings (JSON)"),
      editor,
      el("p", {}, el("button", { type: "submit" }, "Save")),
    ),
  );
}

async function channelsTab(tenant) {
  const channels = await api("GET", `/api/tenants/${tenant.id}/channels`);
  const rows = channels.map((channel) =>
    el(
      "tr",
      {},
      el("td", {}, channel.name),
      el("td", {}, channel.kind),
      el("td", {}, el("code", {}, JSON.stringify(channel.config))),
      el("td", {}, Object.keys(channel.secrets).join(", ") || "—"),
      el(
        "td",
        {},
        el("button", {
          class: "danger",
          onclick: () => guarded(async () => {
            if (!confirm(`Disconnect ${channel.name}?`)) return;
            await api("DELETE", `/api/tenants/${tenant.id}/channels/${channel.id}`);
            route();
          }),
        }, "Delete"),
      ),
    ),
  );
  const kind = el("select", { id: "kind" }, ["whatsapp", "messenger", "webchat"].map((k) => el("option", {}, k)));
  const name = el("input", { id: "channel-name", required: true });
  const config = el("textarea", { id: "config", rows: 4 }, '{"phone_number_id": ""}');
  const secrets = el("textarea", { id: "secrets", rows: 3 }, '{"access_token": ""}');
  kind.addEventListener("change", () => {
    const examples = {
      whatsapp: ['{"phone_number_id": ""}', '{"access_token": "", "app_secret": "", "verify_token": ""}'],
      messenger: ['{"page_id": ""}', '{"page_access_token": "", "app_secret": "", "verify_token": ""}'],
      webchat: ['{"allowed_origins": ["https://example.com"], "title": "Chat with us"}', "{}"],
    };
    [config.value, secrets.value] = examples[kind.value];
  });
  return [
    el("section", {}, el("h2", {}, "Channels"), table(["Name", "Kind", "Config", "Secrets (write-only)", ""], rows)),
    el(
      "section",
      {},
      el("h2", {}, "Connect a channel"),
      el(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              await api("POST", `/api/tenants/${tenant.id}/channels`, {
                kind: kind.value,
                name: name.value,
                config: parseJson(config.value, "Config"),
                secrets: parseJson(secrets.value, "Secrets"),
              });
              route();
            });
          },
        },
        el("p", { class: "inline" }, el("label", { for: "kind" }, "Kind "), kind, " ", el("label", { for: "channel-name" }, "Name "), name),
        el("label", { for: "config" }, "Config (JSON)"),
        config,
        el("label", { for: "secrets" }, "Secrets (JSON, never shown again)"),
        secrets,
        el("p", {}, el("button", { type: "submit" }, "Connect")),
      ),
    ),
  ];
}

async function knowledgeTab(tenant) {
  const documents = await api("GET", `/api/tenants/${tenant.id}/documents?limit=200`);
  const rows = documents.items.map((doc) =>
    el(
      "tr",
      {},
      el("td", {}, doc.title || doc.filename),
      el("td", {}, badge(doc.status), doc.error ? el("div", { class: "muted" }, doc.error) : null),
      el("td", {}, doc.chunk_count),
      el("td", {}, doc.format),
      el(
        "td",
        {},
        el("button", { class: "secondary", onclick: () => guarded(async () => { await api("POST", `/api/tenants/${tenant.id}/documents/${doc.id}/reindex`); route(); }) }, "Reindex"),
        " ",
        el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `/api/tenants/${tenant.id}/documents/${doc.id}`); route(); }) }, "Delete"),
      ),
    ),
  );
  const files = el("input", { type: "file", id: "files", multiple: true, accept: ".pdf,.docx,.md,.txt,.html,.htm" });
  const query = el("input", { id: "query", required: true, size: 40 });
  const mode = el("select", { id: "mode" }, ["hybrid", "keyword", "vector"].map((m) => el("option", {}, m)));
  const results = el("div", {});
  if (documents.items.some((doc) => doc.status === "pending" || doc.status === "processing")) {
    setTimeout(() => location.hash.endsWith("/knowledge") && route(), 2000);
  }
  return [
    el("section", {}, el("h2", {}, "Knowledge base"), table(["Document", "Status", "Chunks", "Format", ""], rows)),
    el(
      "section",
      {},
      el("h2", {}, "Upload"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              const form = new FormData();
              for (const file of files.files) form.append("files", file);
              await api("POST", `/api/tenants/${tenant.id}/documents`, form);
              toast("Uploaded; indexing runs in the worker");
              route();
            });
          },
        },
        el("label", { for: "files" }, "PDF, DOCX, Markdown, text or HTML", files),
        el("button", { type: "submit" }, "Upload"),
      ),
    ),
    el(
      "section",
      {},
      el("h2", {}, "Try a search"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              const found = await api("POST", `/api/tenants/${tenant.id}/search`, { query: query.value, mode: mode.value });
              results.replaceChildren(
                table(
                  ["Score", "Passage", "Source"],
                  found.passages.map((p) =>
                    el("tr", {}, el("td", {}, p.score.toFixed(3)), el("td", {}, p.text.slice(0, 400)), el("td", {}, p.citation.label || p.citation.document_title)),
                  ),
                ),
              );
            });
          },
        },
        el("label", { for: "query" }, "Question", query),
        el("label", { for: "mode" }, "Mode", mode),
        el("button", { type: "submit" }, "Search"),
      ),
      results,
    ),
  ];
}

async function conversationsTab(tenant, conversationId) {
  if (conversationId) return conversationDetail(tenant, conversationId);
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const query = new URLSearchParams({ limit: "100" });
  for (const name of ["state", "q"]) if (params.get(name)) query.set(name, params.get(name));
  const page = await api("GET", `/api/tenants/${tenant.id}/conversations?${query}`);
  const state = el("select", { id: "state" }, ["", "bot", "human", "closed"].map((s) => el("option", { value: s, selected: s === (params.get("state") || "") }, s || "any")));
  const q = el("input", { id: "q", value: params.get("q") || "" });
  const rows = page.items.map((c) =>
    el(
      "tr",
      {},
      el("td", {}, el("a", { href: `#/tenants/${tenant.id}/conversations/${c.id}` }, c.contact_name || c.contact_id)),
      el("td", {}, c.channel_kind || "—"),
      el("td", {}, badge(c.state)),
      el("td", {}, c.last_message ? c.last_message.text.slice(0, 80) : "—"),
      el("td", {}, when(c.updated_at)),
    ),
  );
  return [
    el(
      "section",
      {},
      el("h2", {}, "Conversations"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            const next = new URLSearchParams();
            if (state.value) next.set("state", state.value);
            if (q.value) next.set("q", q.value);
            location.hash = `#/tenants/${tenant.id}/conversations?${next}`;
          },
        },
        el("label", { for: "state" }, "State", state),
        el("label", { for: "q" }, "Search messages", q),
        el("button", { type: "submit" }, "Filter"),
      ),
      table(["Contact", "Channel", "State", "Last message", "Updated"], rows),
    ),
  ];
}

async function conversationDetail(tenant, conversationId) {
  const base = `/api/tenants/${tenant.id}/conversations/${conversationId}`;
  const detail = await api("GET", base);
  const conversation = detail.conversation;
  const bubbles = [...detail.messages.items].reverse().map((m) =>
    el("div", { class: `bubble ${m.direction}` }, m.text || `[${m.type}]`, el("small", {}, `${m.sender} · ${when(m.created_at)} · ${m.status}`)),
  );
  const reply = el("textarea", { id: "reply", rows: 3, required: true, maxlength: 4096 });
  const action = (path, label) =>
    el("button", { class: "secondary", onclick: () => guarded(async () => { await api("POST", `${base}/${path}`, {}); toast(label); route(); }) }, label);
  return [
    el(
      "section",
      {},
      el("p", {}, el("a", { href: `#/tenants/${tenant.id}/conversations` }, "← Conversations")),
      el("h2", {}, `${conversation.contact_name || conversation.contact_id} `, badge(conversation.state)),
      el("p", {}, conversation.state === "human" ? action("release", "Release to the bot") : action("handoff", "Take over")),
      el("div", { class: "messages", role: "log", "aria-label": "Messages" }, bubbles),
    ),
    el(
      "section",
      {},
      el("h2", {}, "Reply as an agent"),
      el(
        "form",
        {
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              await api("POST", `${base}/messages`, { text: reply.value, client_message_id: crypto.randomUUID() });
              route();
            });
          },
        },
        el("label", { for: "reply" }, "Message (sent through the conversation's channel; the bot pauses)"),
        reply,
        el("p", {}, el("button", { type: "submit" }, "Send")),
      ),
    ),
  ];
}

async function webhooksTab(tenant) {
  const hooks = await api("GET", `/api/tenants/${tenant.id}/webhooks`);
  const items = hooks.items || hooks;
  const rows = items.map((hook) =>
    el(
      "tr",
      {},
      el("td", {}, hook.url),
      el("td", {}, hook.event_types.join(", ")),
      el("td", {}, hook.active ? "active" : "paused"),
      el("td", {}, el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `/api/tenants/${tenant.id}/webhooks/${hook.id}`); route(); }) }, "Delete")),
    ),
  );
  const url = el("input", { id: "hook-url", type: "url", required: true, size: 40 });
  const events = el("input", { id: "hook-events", value: "*" });
  const created = el("div", {});
  return [
    el("section", {}, el("h2", {}, "Webhooks"), table(["URL", "Events", "State", ""], rows)),
    created,
    el(
      "section",
      {},
      el("h2", {}, "New webhook"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              const result = await api("POST", `/api/tenants/${tenant.id}/webhooks`, {
                url: url.value,
                event_types: events.value.split(",").map((s) => s.trim()).filter(Boolean),
              });
              created.replaceChildren(showOnce("Signing secret", result.signing_secret));
            });
          },
        },
        el("label", { for: "hook-url" }, "URL", url),
        el("label", { for: "hook-events" }, "Event types (comma-separated, wildcards)", events),
        el("button", { type: "submit" }, "Create"),
      ),
    ),
  ];
}

async function keysTab(tenant) {
  const keys = await api("GET", `/api/tenants/${tenant.id}/api-keys`);
  const rows = keys.map((key) =>
    el(
      "tr",
      {},
      el("td", {}, key.name),
      el("td", {}, key.prefix),
      el("td", {}, key.scopes.join(", ")),
      el("td", {}, when(key.last_used_at)),
      el("td", {}, key.revoked_at ? "revoked" : el("button", { class: "danger", onclick: () => guarded(async () => { await api("DELETE", `/api/tenants/${tenant.id}/api-keys/${key.id}`); route(); }) }, "Revoke")),
    ),
  );
  const name = el("input", { id: "key-name", required: true });
  const created = el("div", {});
  return [
    el("section", {}, el("h2", {}, "API keys"), table(["Name", "Prefix", "Scopes", "Last used", ""], rows)),
    created,
    el(
      "section",
      {},
      el("h2", {}, "New key"),
      el(
        "form",
        {
          class: "inline",
          onsubmit: (event) => {
            event.preventDefault();
            guarded(async () => {
              const issued = await api("POST", `/api/tenants/${tenant.id}/api-keys`, { name: name.value });
              created.replaceChildren(showOnce("API key", issued.api_key));
            });
          },
        },
        el("label", { for: "key-name" }, "Name", name),
        el("button", { type: "submit" }, "Issue"),
      ),
    ),
  ];
}

const TAB_VIEWS = {
  settings: settingsTab,
  channels: channelsTab,
  knowledge: knowledgeTab,
  conversations: conversationsTab,
  webhooks: webhooksTab,
  keys: keysTab,
};

// ---------- routing ----------

async function route() {
  if (!apiKey) return signInView();
  const path = location.hash.replace(/^#/, "").split("?")[0];
  const match = path.match(/^\/tenants\/([0-9a-f-]{36})(?:\/(\w+))?(?:\/([0-9a-f-]{36}))?$/);
  await guarded(async () => {
    if (match) await tenantView(match[1], TABS.includes(match[2]) ? match[2] : "settings", match[3]);
    else await tenantsView();
  });
}

window.addEventListener("hashchange", route);
route();
