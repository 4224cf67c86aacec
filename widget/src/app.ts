// The chat inside the widget's iframe: launcher, conversation, composer, and the WebSocket to the
// platform. Messages are numbered by the server; the frame remembers the last number it showed and, on
// every (re)connect, asks for what came after it, so nothing is lost or shown twice. Messages the visitor
// wrote stay "sending" until the server echoes them back, and are sent again after a reconnect (their id
// makes the copy harmless).

import { link, render } from "./markdown";
import { CHANNEL, type FrameRequest, type ServerFrame, type Session, type SessionGrant } from "./protocol";

type MessageFrame = Extract<ServerFrame, { type: "message" }>;
// An answer being written: its bubble, the text so far, and the timer that drops it if it never ends.
type Stream = { element: HTMLElement; text: string; stale?: number };

const TYPING_EVERY_MS = 3000;
const TYPING_IDLE_MS = 4000;
// The assistant may decide not to answer after all (a person took over): indicators do not linger.
const TYPING_SHOWN_MS = 30000;
const STREAM_STALE_MS = 45000;
const loadedAt = Date.now();
const MAX_TEXT = 4000;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const launcher = $<HTMLButtonElement>("launcher");
const panel = $<HTMLElement>("panel");
const title = $<HTMLElement>("title");
const avatar = $<HTMLImageElement>("avatar");
const closeButton = $<HTMLButtonElement>("close");
const log = $<HTMLElement>("log");
const banner = $<HTMLElement>("banner");
const typing = $<HTMLElement>("typing");
const form = $<HTMLFormElement>("composer");
const input = $<HTMLTextAreaElement>("input");

let session: Session | undefined;
let socket: WebSocket | undefined;
let lastSeq = 0;
let retries = 0;
let reconnectTimer: number | undefined;
let ackTimer: number | undefined;
let stopped = false;
let typingSentAt = 0;
let typingIdle: number | undefined;
let greeted = false;
let typingTimer: number | undefined;
let socketToken = "";
// Written here, not yet confirmed by the server: client id → text, in the order written.
const pending = new Map<string, string>();
const bubbles = new Map<string, HTMLElement>();
const streaming = new Map<string, Stream>();

const tell = (request: FrameRequest): void => window.parent.postMessage(request, "*");

const newId = (): string =>
  typeof crypto.randomUUID === "function"
    ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (byte) => byte.toString(16).padStart(2, "0")).join("");

// --- rendering -----------------------------------------------------------------------------------

function firstPending(): Element | null {
  return log.querySelector(".pending");
}

function place(element: HTMLElement): void {
  // Confirmed and streaming messages go above the visitor's unconfirmed ones.
  log.insertBefore(element, firstPending());
  log.scrollTop = log.scrollHeight;
}

function bubble(role: string, text: string, extraClass = ""): HTMLElement {
  const element = document.createElement("div");
  element.className = `msg ${role} ${extraClass}`.trim();
  const body = document.createElement("div");
  body.className = "body";
  if (role === "visitor") body.textContent = text;
  else body.appendChild(render(text));
  element.appendChild(body);
  return element;
}

function citations(element: HTMLElement, frame: MessageFrame): void {
  if (!frame.citations.length) return;
  const sources = document.createElement("ol");
  sources.className = "sources";
  sources.setAttribute("aria-label", "Sources");
  for (const citation of frame.citations) {
    const item = document.createElement("li");
    item.value = citation.number;
    item.appendChild(citation.url ? link(citation.url, citation.title) : document.createTextNode(citation.title));
    sources.appendChild(item);
  }
  element.appendChild(sources);
}

function system(text: string): void {
  const note = document.createElement("div");
  note.className = "note";
  note.textContent = text;
  place(note);
}

function showMessage(frame: MessageFrame): void {
  if (frame.seq <= lastSeq) return; // shown before (a resend, an overlapping replay)
  lastSeq = frame.seq;
  scheduleAck();
  let element: HTMLElement | undefined;
  if (frame.clientId && pending.has(frame.clientId)) {
    pending.delete(frame.clientId);
    element = bubbles.get(frame.clientId);
    element?.classList.remove("pending", "failed");
    element?.querySelector(".status")?.remove();
  }
  const stream = streaming.get(frame.replyId ?? frame.id) ?? (frame.role === "bot" ? oldestStream() : undefined);
  if (stream) {
    window.clearTimeout(stream.stale);
    for (const [key, value] of streaming) if (value === stream) streaming.delete(key);
    const replacement = bubble(frame.role, frame.text);
    stream.element.replaceWith(replacement);
    element = replacement;
  }
  element ??= bubble(frame.role, frame.text);
  // New, confirmed or finished: it takes its place above what is still pending.
  place(element);
  element.dataset.seq = String(frame.seq);
  citations(element, frame);
  if (frame.role !== "visitor") {
    showTyping(false);
    if (panel.hidden && Date.parse(frame.createdAt) > loadedAt) launcher.classList.add("unread");
  }
}

function oldestStream(): Stream | undefined {
  return streaming.values().next().value;
}

function showTyping(on: boolean): void {
  typing.hidden = !on;
  window.clearTimeout(typingTimer);
  if (on) typingTimer = window.setTimeout(() => (typing.hidden = true), TYPING_SHOWN_MS);
}

function showDelta(replyId: string, text: string): void {
  let stream = streaming.get(replyId);
  if (!stream) {
    const element = bubble("bot", "", "streaming");
    // Screen readers hear the finished answer once, not every token.
    element.setAttribute("aria-hidden", "true");
    stream = { element, text: "" };
    streaming.set(replyId, stream);
    place(element);
  }
  stream.text += text;
  const body = stream.element.querySelector(".body")!;
  body.replaceChildren(render(stream.text));
  showTyping(false);
  log.scrollTop = log.scrollHeight;
  const current = stream;
  window.clearTimeout(current.stale);
  current.stale = window.setTimeout(() => {
    // Never finished (the answer was dropped): the partial text goes.
    current.element.remove();
    streaming.delete(replyId);
  }, STREAM_STALE_MS);
}

function markFailed(clientId: string, reason: string): void {
  const element = bubbles.get(clientId);
  if (!element) return;
  pending.delete(clientId);
  element.classList.add("failed");
  element.querySelector(".status")?.remove();
  const status = document.createElement("button");
  status.type = "button";
  status.className = "status";
  status.textContent = `${reason} · Retry`;
  status.addEventListener("click", () => {
    element.classList.remove("failed");
    status.remove();
    const text = element.querySelector(".body")?.textContent ?? "";
    pending.set(clientId, text);
    element.classList.add("pending");
    transmit(clientId, text);
  });
  element.appendChild(status);
}

// Text on the brand colour: black or white, whichever reads better (WCAG relative luminance).
function onBrand(hex: string): string {
  const [r, g, b] = [1, 3, 5].map((at) => {
    const channel = parseInt(hex.slice(at, at + 2), 16) / 255;
    return channel <= 0.03928 ? channel / 12.92 : ((channel + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179 ? "#111827" : "#fff";
}

// --- the connection ------------------------------------------------------------------------------

function send(frame: object): boolean {
  if (socket?.readyState !== WebSocket.OPEN) return false;
  socket.send(JSON.stringify(frame));
  return true;
}

function transmit(clientId: string, text: string): void {
  send({ type: "message", id: clientId, text });
}

function scheduleAck(): void {
  window.clearTimeout(ackTimer);
  ackTimer = window.setTimeout(() => send({ type: "ack", seq: lastSeq }), 400);
}

function connect(): void {
  if (!session || stopped) return;
  window.clearTimeout(reconnectTimer);
  socket?.close();
  const url = new URL(session.socketPath, location.href);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("token", session.token);
  socketToken = session.token;
  const current = new WebSocket(url.href);
  socket = current;
  current.onopen = () => {
    retries = 0;
    banner.hidden = true;
    current.send(JSON.stringify({ type: "ack", seq: lastSeq }));
    for (const [clientId, text] of pending) transmit(clientId, text);
  };
  current.onmessage = (event: MessageEvent<string>) => {
    let frame: ServerFrame;
    try {
      frame = JSON.parse(event.data) as ServerFrame;
    } catch {
      return;
    }
    if (frame.type === "message") showMessage(frame);
    else if (frame.type === "delta") showDelta(frame.replyId, frame.text);
    else if (frame.type === "typing") showTyping(frame.on && !streaming.size);
    else if (frame.type === "handoff")
      system(frame.state === "joined" ? "A person from our team is taking over." : "You're back with the assistant.");
    else if (frame.type === "error" && frame.id && frame.code !== "internal_error")
      markFailed(frame.id, frame.code === "rate_limited" ? "Too many messages" : "Not sent");
  };
  current.onclose = (event: CloseEvent) => {
    if (socket !== current) return;
    socket = undefined;
    if (event.code === 4403 || event.code === 1008) {
      stopped = true;
      banner.textContent = "The chat is not available right now.";
      banner.hidden = false;
      return;
    }
    banner.textContent = "Reconnecting…";
    banner.hidden = false;
    if (event.code === 4401) {
      // The token expired or was refused: use the newer one the page already handed over, or ask for one.
      if (session && session.token !== socketToken) connect();
      else tell({ [CHANNEL]: "refresh" });
      return;
    }
    retries += 1;
    reconnectTimer = window.setTimeout(connect, Math.min(500 * 2 ** retries, 30000) * (0.5 + Math.random() / 2));
  };
}

// --- the visitor ---------------------------------------------------------------------------------

function setOpen(open: boolean): void {
  document.body.classList.toggle("open", open);
  panel.hidden = !open;
  launcher.hidden = open;
  launcher.setAttribute("aria-expanded", String(open));
  launcher.classList.remove("unread");
  tell({ [CHANNEL]: "open", open });
  if (open) {
    if (!greeted && session?.widget.greeting) {
      greeted = true;
      const greeting = bubble("bot", session.widget.greeting, "greeting");
      log.insertBefore(greeting, log.firstChild);
    }
    input.focus();
    log.scrollTop = log.scrollHeight;
  } else {
    launcher.focus();
  }
}

function submit(): void {
  const text = input.value.trim();
  if (!text) return;
  if (text.length > MAX_TEXT) {
    system(`Messages can be at most ${MAX_TEXT} characters.`);
    return;
  }
  const clientId = newId();
  const element = bubble("visitor", text, "pending");
  bubbles.set(clientId, element);
  pending.set(clientId, text);
  log.appendChild(element);
  log.scrollTop = log.scrollHeight;
  input.value = "";
  window.clearTimeout(typingIdle);
  send({ type: "typing", on: false });
  typingSentAt = 0;
  transmit(clientId, text);
}

launcher.addEventListener("click", () => setOpen(true));
closeButton.addEventListener("click", () => setOpen(false));
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && !panel.hidden) setOpen(false);
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  submit();
});
input.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submit();
  }
});
input.addEventListener("input", () => {
  const now = Date.now();
  if (now - typingSentAt > TYPING_EVERY_MS && input.value.trim()) {
    typingSentAt = now;
    send({ type: "typing", on: true });
  }
  window.clearTimeout(typingIdle);
  typingIdle = window.setTimeout(() => {
    typingSentAt = 0;
    send({ type: "typing", on: false });
  }, TYPING_IDLE_MS);
});
window.addEventListener("online", () => {
  if (!socket) connect();
});

window.addEventListener("message", (event: MessageEvent<SessionGrant>) => {
  if (event.source !== window.parent || event.data?.[CHANNEL] !== "session") return;
  const first = !session;
  session = event.data.session;
  document.body.classList.toggle("narrow", event.data.narrow);
  if (!first) {
    // A refreshed token: used for the next connection (now, if the last one was refused for its token).
    if (!socket) connect();
    return;
  }
  const look = session.widget;
  const root = document.documentElement.style;
  root.setProperty("--brand", look.brandColor);
  root.setProperty("--on-brand", onBrand(look.brandColor));
  document.body.classList.add(look.position === "left" ? "left" : "right");
  title.textContent = look.title;
  panel.setAttribute("aria-label", look.title);
  launcher.setAttribute("aria-label", `Open chat: ${look.title}`);
  if (/^https?:\/\//.test(look.avatarUrl)) {
    avatar.src = look.avatarUrl;
    avatar.hidden = false;
  }
  launcher.hidden = false;
  connect();
});

tell({ [CHANNEL]: "ready" });
