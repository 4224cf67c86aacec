// The one script a tenant pastes into their site:
//   <script src="https://chat.example.com/widget/loader.js" data-widget-id="wgt_…" async></script>
// It asks the platform for a session from the page's own origin (checked against the widget's allow-list),
// keeps the visitor id in the site's storage so the conversation survives page loads, and hosts the chat
// in an iframe served by the platform, so the site's CSS and the widget's never meet.

import { CHANNEL, type FrameRequest, type Session, type SessionGrant } from "./protocol";

declare const __WIDGET_VERSION__: string;

const NARROW_PX = 480;
const CLOSED_PX = 60;
const GAP_PX = 20;
const Z_TOP = "2147483000";

(() => {
  const script = document.currentScript as HTMLScriptElement | null;
  const widgetId = script?.dataset.widgetId;
  if (!script || !widgetId) {
    console.warn("metachat: the widget script needs data-widget-id");
    return;
  }
  const base = new URL(".", script.src);
  const platform = base.origin;
  const storageKey = `metachat:${widgetId}:visitor`;
  const frame = document.createElement("iframe");
  let session: Session | undefined;
  let open = false;
  let refreshTimer: number | undefined;
  let failures = 0;

  const storedVisitor = (): string | null => {
    try {
      return localStorage.getItem(storageKey);
    } catch {
      return null; // storage blocked: the visitor starts afresh on each page
    }
  };

  const remember = (visitorId: string): void => {
    try {
      localStorage.setItem(storageKey, visitorId);
    } catch {
      // as above
    }
  };

  const narrow = (): boolean => window.innerWidth < NARROW_PX;

  const place = (): void => {
    const side = session?.widget.position === "left" ? "left" : "right";
    const full = open && narrow();
    const style = frame.style;
    style.cssText =
      `position:fixed;z-index:${Z_TOP};border:0;background:transparent;color-scheme:normal;` +
      "box-shadow:0 6px 24px rgba(0,0,0,.18);" +
      (session ? "" : "display:none;");
    if (full) {
      style.inset = "0";
      style.width = "100%";
      style.height = "100%";
      style.borderRadius = "0";
      return;
    }
    style.bottom = `${GAP_PX}px`;
    style[side] = `${GAP_PX}px`;
    style.width = open ? `min(400px, calc(100vw - ${2 * GAP_PX}px))` : `${CLOSED_PX}px`;
    style.height = open ? `min(640px, calc(100vh - ${2 * GAP_PX}px))` : `${CLOSED_PX}px`;
    style.borderRadius = open ? "14px" : "50%";
  };

  const grant = (): void => {
    if (session && frame.contentWindow) {
      const message: SessionGrant = { [CHANNEL]: "session", session, narrow: narrow() };
      frame.contentWindow.postMessage(message, platform);
    }
  };

  const startSession = async (): Promise<void> => {
    window.clearTimeout(refreshTimer);
    try {
      const response = await fetch(`${platform}/api/webchat/sessions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ widgetId, visitorId: storedVisitor() ?? undefined }),
        credentials: "omit",
      });
      if (response.status === 403 || response.status === 404) {
        console.warn(`metachat: widget ${widgetId} is not available on this site (${response.status})`);
        return;
      }
      if (response.status === 429) {
        const wait = Number(response.headers.get("retry-after")) || 30;
        refreshTimer = window.setTimeout(startSession, wait * 1000);
        return;
      }
      if (!response.ok) throw new Error(String(response.status));
      session = (await response.json()) as Session;
      failures = 0;
      frame.title = session.widget.title;
      remember(session.visitorId);
      place();
      grant();
      // Refresh at 80% of the token's life: the chat reconnects with the new one without a gap.
      const lifetime = Date.parse(session.expiresAt) - Date.now();
      refreshTimer = window.setTimeout(startSession, Math.max(lifetime * 0.8, 5000));
    } catch {
      // Unreachable or failing: try again, less often each time.
      failures += 1;
      refreshTimer = window.setTimeout(startSession, Math.min(2000 * 2 ** failures, 60000));
    }
  };

  window.addEventListener("message", (event: MessageEvent<FrameRequest>) => {
    if (event.source !== frame.contentWindow || event.origin !== platform || !event.data) return;
    const request = event.data;
    if (request[CHANNEL] === "ready") {
      if (session) grant();
      else void startSession();
    } else if (request[CHANNEL] === "refresh") {
      void startSession();
    } else if (request[CHANNEL] === "open") {
      open = request.open;
      place();
    }
  });
  window.addEventListener("resize", () => {
    place();
    grant();
  });

  frame.title = "Chat";
  frame.setAttribute("allow", "clipboard-write");
  frame.src = new URL(`v/${__WIDGET_VERSION__}/frame.html`, base).href;
  place();
  const mount = (): void => {
    document.body.appendChild(frame);
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
