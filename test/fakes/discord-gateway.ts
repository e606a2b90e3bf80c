import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The fake Discord gateway (v10, JSON text frames, no compression), as platforms.md §1 describes the minimum:
 * Hello → Identify → READY (+ one GUILD_CREATE per guild), heartbeats answered, dispatches with a sequence number.
 */

export interface GatewayIdentity {
  token: string;
  intents: number;
}

export interface GatewayOptions {
  /** Checks the Identify token; a bad one closes with 4004 (Authentication failed), as Discord does. */
  acceptToken(token: string): boolean;
  /** Checks the Identify intents; a privileged one the portal has not enabled closes with 4014, as Discord does. */
  acceptIntents(intents: number): boolean;
  /** The READY payload's `d`, and the dispatches that follow it (GUILD_CREATE). */
  ready(sessionId: string, resumeUrl: string): { ready: object; after: { t: string; d: object }[] };
  resumeUrl(): string;
}

interface Session {
  socket: WebSocket;
  id: string;
  seq: number;
  identified: boolean;
  intents: number;
}

export class FakeGateway {
  /** Every Identify received, in order. */
  readonly identifies: GatewayIdentity[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly sessions = new Set<Session>();
  private nextSession = 1;

  constructor(private readonly options: GatewayOptions) {
    this.wss.on('connection', (socket) => this.accept(socket));
  }

  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(request, socket, head, (ws) => this.wss.emit('connection', ws, request));
  }

  /** Sessions that have identified and not closed. */
  get connected(): number {
    return [...this.sessions].filter((s) => s.identified).length;
  }

  /**
   * Sends a dispatch (op 0) to every identified session; false when nobody is connected. `d` may depend on the
   * session's intents (what Discord leaves out without a privileged intent).
   */
  dispatch(t: string, d: object | ((intents: number) => object)): boolean {
    let sent = false;
    for (const session of this.sessions) {
      if (!session.identified) continue;
      this.send(session, { op: 0, t, s: ++session.seq, d: typeof d === 'function' ? d(session.intents) : d });
      sent = true;
    }
    return sent;
  }

  close(): Promise<void> {
    for (const session of this.sessions) session.socket.terminate();
    this.sessions.clear();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    const session: Session = { socket, id: `session-${this.nextSession++}`, seq: 0, identified: false, intents: 0 };
    this.sessions.add(session);
    socket.on('close', () => this.sessions.delete(session));
    socket.on('message', (raw) => this.receive(session, raw.toString()));
    this.send(session, { op: 10, d: { heartbeat_interval: 41_250 } });
  }

  private receive(session: Session, text: string): void {
    let payload: { op: number; d: unknown };
    try {
      payload = JSON.parse(text) as { op: number; d: unknown };
    } catch {
      session.socket.close(4002, 'Decode error');
      return;
    }
    switch (payload.op) {
      case 1: // Heartbeat: an unanswered one makes discord.js reconnect.
        this.send(session, { op: 11 });
        return;
      case 2: {
        const d = payload.d as { token: string; intents: number };
        this.identifies.push({ token: d.token, intents: d.intents });
        if (!this.options.acceptToken(d.token)) {
          session.socket.close(4004, 'Authentication failed.');
          return;
        }
        if (!this.options.acceptIntents(d.intents)) {
          session.socket.close(4014, 'Disallowed intent(s).');
          return;
        }
        session.identified = true;
        session.intents = d.intents;
        const { ready, after } = this.options.ready(session.id, this.options.resumeUrl());
        this.send(session, { op: 0, t: 'READY', s: ++session.seq, d: ready });
        for (const event of after) this.send(session, { op: 0, t: event.t, s: ++session.seq, d: event.d });
        return;
      }
      case 6: // Resume: this fake keeps no event backlog, so it asks for a fresh Identify.
        this.send(session, { op: 9, d: false });
        return;
      default:
        return;
    }
  }

  private send(session: Session, payload: object): void {
    if (session.socket.readyState === session.socket.OPEN) session.socket.send(JSON.stringify(payload));
  }
}
