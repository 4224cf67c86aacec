// Messages between the loader (on the tenant's page) and the chat frame (served by the platform), and the
// frames of the platform's WebSocket (see src/entrypoints/ws/protocol.py).

export const CHANNEL = "metachat";

export interface WidgetLook {
  widgetId: string;
  title: string;
  brandColor: string;
  position: "left" | "right";
  greeting: string;
  avatarUrl: string;
}

export interface Session {
  token: string;
  expiresAt: string;
  visitorId: string;
  socketPath: string;
  widget: WidgetLook;
}

// frame → loader
export type FrameRequest =
  | { [CHANNEL]: "ready" }
  | { [CHANNEL]: "refresh" }
  | { [CHANNEL]: "open"; open: boolean };

// loader → frame
export interface SessionGrant {
  [CHANNEL]: "session";
  session: Session;
  // The page is narrow: the open chat takes the whole screen.
  narrow: boolean;
}

export interface Citation {
  number: number;
  title: string;
  url: string | null;
}

export type ServerFrame =
  | {
      type: "message";
      id: string;
      seq: number;
      role: "visitor" | "bot" | "agent" | "system";
      text: string;
      createdAt: string;
      clientId?: string;
      replyId?: string;
      citations: Citation[];
    }
  | { type: "delta"; replyId: string; text: string }
  | { type: "typing"; on: boolean; role: string }
  | { type: "handoff"; state: "joined" | "left" }
  | { type: "error"; code: string; message: string; id?: string };
