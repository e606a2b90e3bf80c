import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The fake Discord gateway (v10, JSON text frames, no compression), as platforms.md §1 describes the minimum:
 * Hello → Identify → READY (+ one GUILD_CREATE per guild), heartbeats answered, dispatches with a sequence number.
 *
 * Sharded as Discord is: Identify carries `shard: [id, count]` (absent: [0, 1]); a session receives the events of
 * the servers on its shard only, `(guild id >> 22) % count`, and events outside any server (DMs) go to shard 0.
 * A bad shard closes with 4010; a shard that would hold more than `maxGuildsPerShard` servers with 4011.
 */

/** `[shard id, shard count]`, as in Identify and READY. */
export type Shard = readonly [id: number, count: number];

/** The shard that receives a server's events; undefined (no server, a DM) is shard 0. */
export function shardOf(guildId: string | null | undefined, count: number): number {
  return guildId ? Number((BigInt(guildId) >> 22n) % BigInt(count)) : 0;
}

export interface GatewayIdentity {
  token: string;
  intents: number;
  shard: Shard;
}

/** One dispatch as a session received it. */
export interface GatewayDelivery {
  t: string;
  guildId: string | null;
  session: string;
  shard: Shard;
}

export interface GatewayOptions {
  /** Checks the Identify token; a bad one closes with 4004 (Authentication failed), as Discord does. */
  acceptToken(token: string): boolean;
  /** Checks the Identify intents; a privileged one the portal has not enabled closes with 4014, as Discord does. */
  acceptIntents(intents: number): boolean;
  /** The READY payload's `d`, and the dispatches that follow it (GUILD_CREATE), for this session's shard. */
  ready(sessionId: string, resumeUrl: string, shard: Shard): { ready: object; after: { t: string; d: object }[] };
  resumeUrl(): string;
  /** Every server the bot is in: a shard holding more than `maxGuildsPerShard` of them is refused (4011). */
  guildIds(): readonly string[];
  maxGuildsPerShard: number;
}

interface Session {
  socket: WebSocket;
  id: string;
  seq: number;
  identified: boolean;
  intents: number;
  shard: Shard;
}

export class FakeGateway {
  /** Every Identify received, in order. */
  readonly identifies: GatewayIdentity[] = [];
  /** Every dispatch after READY, and which session (shard) received it. */
  readonly deliveries: GatewayDelivery[] = [];
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

  /** The shards of the identified sessions. */
  get shards(): Shard[] {
    return [...this.sessions].filter((s) => s.identified).map((s) => s.shard);
  }

  /**
   * Sends a dispatch (op 0) about `guildId` (null: no server, a DM) to the session(s) of its shard; false when no
   * such session is connected. `d` may depend on the session's intents (what Discord leaves out without a
   * privileged intent).
   */
  dispatch(t: string, guildId: string | null, d: object | ((intents: number) => object)): boolean {
    let sent = false;
    for (const session of this.sessions) {
      if (!session.identified || shardOf(guildId, session.shard[1]) !== session.shard[0]) continue;
      this.deliveries.push({ t, guildId, session: session.id, shard: session.shard });
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
    const session: Session = {
      socket,
      id: `session-${this.nextSession++}`,
      seq: 0,
      identified: false,
      intents: 0,
      shard: [0, 1],
    };
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
        const d = payload.d as { token: string; intents: number; shard?: unknown };
        const shard = (d.shard ?? [0, 1]) as Shard;
        this.identifies.push({ token: d.token, intents: d.intents, shard });
        if (!this.options.acceptToken(d.token)) {
          session.socket.close(4004, 'Authentication failed.');
          return;
        }
        if (!this.options.acceptIntents(d.intents)) {
          session.socket.close(4014, 'Disallowed intent(s).');
          return;
        }
        if (!isValidShard(shard)) {
          session.socket.close(4010, 'Invalid shard.');
          return;
        }
        if (
          this.options.guildIds().filter((id) => shardOf(id, shard[1]) === shard[0]).length >
          this.options.maxGuildsPerShard
        ) {
          session.socket.close(4011, 'Sharding required.');
          return;
        }
        session.identified = true;
        session.intents = d.intents;
        session.shard = shard;
        const { ready, after } = this.options.ready(session.id, this.options.resumeUrl(), shard);
        this.send(session, { op: 0, t: 'READY', s: ++session.seq, d: ready });
        for (const event of after) {
          this.deliveries.push({
            t: event.t,
            guildId: (event.d as { id?: string }).id ?? null,
            session: session.id,
            shard,
          });
          this.send(session, { op: 0, t: event.t, s: ++session.seq, d: event.d });
        }
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

function isValidShard(shard: unknown): shard is Shard {
  if (!Array.isArray(shard) || shard.length !== 2 || !shard.every((n) => Number.isInteger(n))) return false;
  const [id, count] = shard as [number, number];
  return count >= 1 && id >= 0 && id < count;
}
