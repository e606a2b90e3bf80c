import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeGateway, shardOf, type Shard } from './discord-gateway.js';
import { FakeMonetization } from './discord-monetization.js';
import {
  attachmentPayload,
  channelPayload,
  guildPayload,
  MEMBER_PERMISSIONS,
  memberPayload,
  snowflake,
  userPayload,
  type FakeAttachment,
  type FakeChannel,
  type FakeEntitlement,
  type FakeGuild,
  type FakeSku,
  type FakeMember,
  type FakeUser,
} from './discord-payloads.js';

export {
  ENTITLEMENT_TYPES,
  MEMBER_PERMISSIONS,
  PERMISSIONS,
  SKU_TYPES,
  type FakeAttachment,
  type FakeEntitlement,
  type FakeMember,
  type FakeSku,
  type FakeUser,
} from './discord-payloads.js';

/**
 * A fake Discord for end-to-end tests: REST v10 over HTTP and the gateway v10 over `ws` on one port, so the real
 * discord.js `Client` logs in to it with `rest: { api: fake.apiBase }` (platforms.md §1).
 *
 * It keeps the state a bot can observe (messages, interactions and their tokens, registered commands) and
 * enforces the rules that break bots in production: the 3 s deadline for the first interaction response
 * (10062), one acknowledgement per interaction (40060), interaction tokens that expire (401 / 50027), the upload
 * limit (413 / 40005), `enforce_nonce` de-duplication, edits only of the bot's own non-ephemeral messages (10008),
 * and who a message really pings given its `allowed_mentions`. Faults (429 with Retry-After, any status, reset
 * connections; before or after the request took effect) are injected per route, optionally on uploads only.
 * The gateway is sharded as Discord's is (`discord-gateway.ts`): each server's events reach its shard's session only.
 *
 * It delivers whatever a test sends, including commands Discord itself would hide from that member or in that
 * place: that is how a test shows the bot's server-side checks.
 */

export interface FakeDiscordOptions {
  token?: string;
  /** Largest total upload per request, bytes; beyond it a 413 / 40005. Default 10 MiB, Discord's default for bots. */
  uploadLimitBytes?: number;
  /** Whether the bot's owner enabled the privileged Message Content intent in the portal; default false, as for a new application. */
  messageContentIntent?: boolean;
  /** Servers one shard may hold before Identify is refused with 4011 (Sharding required); Discord's is 2,500. */
  maxGuildsPerShard?: number;
}

export interface SentFile {
  field: string;
  filename: string;
  contentType: string;
  data: Buffer;
}

export interface ButtonJson {
  type: 2;
  style: number;
  label?: string;
  custom_id?: string;
  url?: string;
  /** Premium buttons (style 6): the SKU Discord's purchase dialog sells. */
  sku_id?: string;
  emoji?: unknown;
  disabled?: boolean;
}

export interface ComponentRow {
  type: 1;
  components: ButtonJson[];
}

export interface AllowedMentions {
  parse?: ('users' | 'roles' | 'everyone')[];
  users?: string[];
  roles?: string[];
  replied_user?: boolean;
}

/** A message body as bots send it (JSON, or the `payload_json` of a multipart request). */
export interface MessageBody {
  content?: string;
  components?: ComponentRow[];
  allowed_mentions?: AllowedMentions;
  flags?: number;
  nonce?: string | number;
  enforce_nonce?: boolean;
  message_reference?: { message_id: string; channel_id?: string; fail_if_not_exists?: boolean };
  attachments?: { id: string | number }[];
  [key: string]: unknown;
}

export interface RecordedRequest {
  method: string;
  /** Decoded path below `/api/v10` (`%40original` is `@original` here). */
  path: string;
  query: URLSearchParams;
  /** `bot`: it carried the bot token. */
  auth: 'bot' | 'none' | 'bad';
  /** The JSON body, or the `payload_json` of a multipart one. */
  body: MessageBody | undefined;
  /** Raw JSON for bodies that are not objects (command lists). */
  json: unknown;
  files: SentFile[];
  /** What the fake answered; 0 when the connection was reset. */
  status: number;
  at: number;
}

export interface FakeMessage {
  id: string;
  channelId: string;
  guildId: string | null;
  authorId: string;
  content: string;
  components: ComponentRow[];
  files: SentFile[];
  flags: number;
  /** `allowed_mentions` of the latest write. */
  allowedMentions: AllowedMentions | undefined;
  nonce: string | undefined;
  origin: 'interaction' | 'followup' | 'channel' | 'member';
  interactionId: string | undefined;
  referencedMessageId: string | undefined;
  deleted: boolean;
  /** Deferred interaction response not yet edited ("… is thinking"). */
  loading: boolean;
  createdAt: number;
  /** Every state it had, oldest first, and which route wrote it. */
  history: { content: string; components: ComponentRow[]; via: 'callback' | 'webhook' | 'channel'; at: number }[];
  /** Who this message notified when it appeared (edits notify nobody). */
  pinged: { everyone: boolean; users: string[]; roles: string[] };
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: 2 | 3 | 4 | 5;
  member: FakeMember;
  channelId: string;
  guildId: string | null;
  dispatchedAt: number;
  /** Interaction callbacks received (type 4 reply, 5 defer, 6 deferred update, 7 update, 8 autocomplete, 9 modal). */
  callbacks: { type: number; data: MessageBody | undefined; at: number }[];
  originalId: string | undefined;
  followUpIds: string[];
  expired: boolean;
  /** Component interactions: the message whose button was pressed. */
  messageId: string | undefined;
}

export type FaultResponse = { status: number; body?: unknown; headers?: Record<string, string> } | 'reset';

export interface FakeFault {
  method?: string;
  /** Matched against the decoded path below `/api/v10`. */
  path: RegExp;
  /** How many matching requests it hits; default 1. */
  times?: number;
  /** `before`: answer without acting. `after`: act, then spoil the answer (the client never learns it worked). */
  phase?: 'before' | 'after';
  /** Only requests that upload files (a video delivery), not the plain messages on the same route. */
  uploadsOnly?: boolean;
  respond: FaultResponse;
}

export interface ApiCommandOption {
  name: string;
  type: number;
  description: string;
  required?: boolean;
  choices?: { name: string; value: string | number }[];
  autocomplete?: boolean;
  [key: string]: unknown;
}

export interface ApiCommand {
  name: string;
  description: string;
  options?: ApiCommandOption[];
  default_member_permissions?: string | null;
  contexts?: number[];
  [key: string]: unknown;
}

type OptionValue = string | number | boolean | FakeAttachment | FakeUser;

interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

const API_PREFIX = '/api/v10';
const EPHEMERAL = 64;
const LOADING = 128;
const FIRST_RESPONSE_MS = 3000;
const TOKEN_LIFETIME_MS = 15 * 60_000;
const NONCE_WINDOW_MS = 5 * 60_000;
const MAX_CONTENT = 2000;
const MESSAGE_CONTENT_INTENT = 1 << 15;
const MAX_GUILDS_PER_SHARD = 2500;
/** Discord recommends about one shard per 1,000 servers in GET /gateway/bot. */
const RECOMMENDED_GUILDS_PER_SHARD = 1000;

const error = (status: number, code: number, message: string): Reply => ({ status, body: { message, code } });
/** ButtonStyle.Premium: Discord renders the SKU's name and price and opens its purchase dialog. */
const PREMIUM_STYLE = 6;

export class FakeDiscord {
  readonly requests: RecordedRequest[] = [];
  readonly messages: FakeMessage[] = [];
  readonly interactions: FakeInteraction[] = [];
  readonly commands: { global: ApiCommand[] | undefined; guilds: Map<string, ApiCommand[]> } = {
    global: undefined,
    guilds: new Map(),
  };
  readonly bot: FakeUser;
  readonly applicationId: string;
  readonly guild: FakeGuild;
  /** Every server the bot is in, the first (`guild`) included; `addGuild` adds more, a leave removes one. */
  readonly guilds: FakeGuild[] = [];
  /** Servers the bot left (`DELETE /users/@me/guilds/{id}`), in order. */
  readonly leftGuilds: string[] = [];
  /** The guild's main text channel, where tests talk by default. */
  readonly channelId: string;
  uploadLimitBytes: number;
  readonly maxGuildsPerShard: number;
  readonly token: string;
  readonly gateway: FakeGateway;
  /** The application's SKUs and its members' entitlements (premium purchases). */
  readonly monetization: FakeMonetization;
  private readonly faults: (FakeFault & { left: number })[] = [];
  private readonly hosted = new Map<string, FakeAttachment>();
  private readonly dmChannels = new Map<string, FakeChannel>();
  private readonly joinedAt = new Date().toISOString();
  private nextUser = 1;

  private constructor(
    private readonly server: Server,
    readonly origin: string,
    options: FakeDiscordOptions,
  ) {
    this.token = options.token ?? 'fake-bot-token';
    this.uploadLimitBytes = options.uploadLimitBytes ?? 10 * 1024 * 1024;
    this.maxGuildsPerShard = options.maxGuildsPerShard ?? MAX_GUILDS_PER_SHARD;
    const botId = snowflake();
    this.bot = { id: botId, username: 'clipbot', globalName: null, bot: true };
    this.applicationId = botId;
    const guildId = snowflake();
    this.channelId = snowflake();
    this.guild = {
      id: guildId,
      name: 'Fake Guild',
      ownerId: snowflake(),
      preferredLocale: 'en-US',
      channels: [
        { id: this.channelId, name: 'general', guildId },
        { id: snowflake(), name: 'videos', guildId },
      ],
    };
    this.guilds.push(this.guild);
    this.monetization = new FakeMonetization(this.applicationId, (t, d) => this.gateway.dispatch(t, null, d));
    this.gateway = new FakeGateway({
      acceptToken: (token) => token === this.token,
      acceptIntents: (intents) => options.messageContentIntent === true || (intents & MESSAGE_CONTENT_INTENT) === 0,
      resumeUrl: () => this.gatewayUrl,
      guildIds: () => this.guilds.map((g) => g.id),
      maxGuildsPerShard: this.maxGuildsPerShard,
      ready: (sessionId, resumeUrl, shard) => {
        const mine = this.guilds.filter((g) => shardOf(g.id, shard[1]) === shard[0]);
        return {
          ready: {
            v: 10,
            user: { ...userPayload(this.bot), verified: true, mfa_enabled: false, flags: 0 },
            guilds: mine.map((g) => ({ id: g.id, unavailable: true })),
            session_id: sessionId,
            resume_gateway_url: resumeUrl,
            shard,
            application: { id: this.applicationId, flags: 0 },
          },
          after: mine.map((g) => ({ t: 'GUILD_CREATE', d: guildPayload(g, this.joinedAt) })),
        };
      },
    });
  }

  static async start(options: FakeDiscordOptions = {}): Promise<FakeDiscord> {
    let fake: FakeDiscord | undefined;
    const server = createServer((req, res) => {
      // A bot killed mid-request (the crash suites) aborts its body: answer what can be answered, never reject unheard.
      fake!.handle(req, res).catch((error: unknown) => {
        if (res.headersSent || req.destroyed) res.destroy();
        else send(res, { status: 500, body: { message: `fake error: ${String(error)}`, code: 0 } });
      });
    });
    server.on('upgrade', (req, socket, head) => {
      if (req.url?.startsWith('/gateway')) fake!.gateway.handleUpgrade(req, socket, head);
      else socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    fake = new FakeDiscord(server, `http://127.0.0.1:${port}`, options);
    return fake;
  }

  /** What `DISCORD_API_BASE` is set to. */
  get apiBase(): string {
    return `${this.origin}/api`;
  }

  get gatewayUrl(): string {
    return `${this.origin.replace(/^http/, 'ws')}/gateway`;
  }

  /** The guild's second text channel. */
  get otherChannelId(): string {
    return this.guild.channels[1]!.id;
  }

  async close(): Promise<void> {
    await this.gateway.close();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /**
   * Another server with one text channel (`channels[0]`). Added before the bot connects, it comes with READY; added
   * while it is connected, the bot is told with a GUILD_CREATE, as when someone invites it to their server.
   * `opts.shard` picks an id that falls on that shard (`[id, count]`).
   */
  addGuild(name = 'Other Guild', opts: { shard?: Shard } = {}): FakeGuild {
    const id = opts.shard ? snowflakeOnShard(opts.shard) : snowflake();
    const guild: FakeGuild = {
      id,
      name,
      ownerId: snowflake(),
      preferredLocale: 'en-US',
      channels: [{ id: snowflake(), name: 'general', guildId: id }],
    };
    this.guilds.push(guild);
    this.gateway.dispatch('GUILD_CREATE', id, guildPayload(guild, new Date().toISOString()));
    return guild;
  }

  // ------------------------------------------------------------------ people and files

  /** A guild member. Default permissions are an ordinary member's; `locale` is their client language. */
  member(name: string, opts: { permissions?: bigint; locale?: string; id?: string } = {}): FakeMember {
    return {
      id: opts.id ?? snowflake(),
      username: name.toLowerCase().replace(/\W+/g, '') || `user${this.nextUser++}`,
      globalName: name,
      bot: false,
      permissions: opts.permissions ?? MEMBER_PERMISSIONS,
      locale: opts.locale ?? 'en-US',
    };
  }

  /** Hosts a file on the fake's "CDN" (this server), as Discord does for members' attachments. */
  hostFile(data: Buffer, filename: string, contentType: string): FakeAttachment {
    const id = snowflake();
    const attachment = {
      id,
      filename,
      contentType,
      data,
      url: `${this.origin}/attachments/uploads/${id}/${encodeURIComponent(filename)}`,
    };
    this.hosted.set(id, attachment);
    return attachment;
  }

  // ------------------------------------------------------------------ fault injection

  inject(fault: FakeFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Drops every fault not used up yet (the outage a test staged is over). */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The next `times` matching requests get a 429 with `Retry-After` (seconds, fractions allowed). */
  rateLimit(
    method: string,
    path: RegExp,
    retryAfterS: number,
    times = 1,
    only: Pick<FakeFault, 'uploadsOnly'> = {},
  ): void {
    this.inject({
      method,
      path,
      times,
      ...only,
      respond: {
        status: 429,
        body: { message: 'You are being rate limited.', retry_after: retryAfterS, global: false },
        headers: { 'retry-after': String(retryAfterS), 'x-ratelimit-scope': 'user' },
      },
    });
  }

  /** The interaction's token stops working now, as it does 15 minutes after the interaction (401 / 50027). */
  expireToken(interaction: FakeInteraction): void {
    interaction.expired = true;
  }

  /** Someone deleted a message (a moderator, or the member who got it). */
  deleteMessage(id: string): void {
    const message = this.message(id);
    if (message) message.deleted = true;
  }

  // ------------------------------------------------------------------ members act

  /** A member runs a slash command. Option values are typed by the bot's registered definition of the command. */
  slash(
    member: FakeMember,
    name: string,
    options: Record<string, OptionValue> = {},
    where: { channelId?: string; dm?: boolean; attachmentSizeLimit?: number } = {},
  ): FakeInteraction {
    const definition = this.registeredCommand(name);
    const resolvedAttachments: Record<string, object> = {};
    const resolvedUsers: Record<string, object> = {};
    const apiOptions = Object.entries(options).map(([key, value]) => {
      const def = definition.options?.find((o) => o.name === key);
      if (!def) throw new Error(`/${name} has no registered option "${key}"`);
      if (def.choices && !def.choices.some((c) => c.value === value))
        throw new Error(`/${name} ${key}: ${String(value)} is not one of its choices`);
      if (def.type === 11) {
        const attachment = value as FakeAttachment;
        resolvedAttachments[attachment.id] = attachmentPayload(attachment);
        return { name: key, type: 11, value: attachment.id };
      }
      if (def.type === 6) {
        const user =
          typeof value === 'string'
            ? { id: value, username: `user${value.slice(-4)}`, globalName: null, bot: false }
            : (value as FakeUser);
        resolvedUsers[user.id] = userPayload(user);
        return { name: key, type: 6, value: user.id };
      }
      return { name: key, type: def.type, value };
    });
    for (const def of definition.options ?? []) {
      if (def.required && !(def.name in options)) throw new Error(`/${name} needs its required option "${def.name}"`);
    }
    const resolved = {
      ...(Object.keys(resolvedAttachments).length ? { attachments: resolvedAttachments } : {}),
      ...(Object.keys(resolvedUsers).length ? { users: resolvedUsers } : {}),
    };
    return this.dispatchInteraction(member, 2, where, {
      data: {
        id: snowflake(),
        name,
        type: 1,
        options: apiOptions,
        ...(Object.keys(resolved).length ? { resolved } : {}),
        ...(where.dm ? {} : { guild_id: this.guildOf(where.channelId) }),
      },
    });
  }

  /** A member types in an autocompleted option; `focused` names the option being typed. */
  autocomplete(
    member: FakeMember,
    name: string,
    focused: string,
    value: string,
    others: Record<string, string | number> = {},
  ): FakeInteraction {
    const definition = this.registeredCommand(name);
    if (!definition.options?.find((o) => o.name === focused)?.autocomplete)
      throw new Error(`/${name} ${focused} is not registered with autocomplete`);
    const options = [
      ...Object.entries(others).map(([k, v]) => ({
        name: k,
        type: definition.options!.find((o) => o.name === k)!.type,
        value: v,
      })),
      { name: focused, type: 3, value, focused: true },
    ];
    return this.dispatchInteraction(
      member,
      4,
      {},
      { data: { id: snowflake(), name, type: 1, options, guild_id: this.guild.id } },
    );
  }

  /** A member presses a button on one of the bot's messages. */
  press(member: FakeMember, message: FakeMessage, customId: string): FakeInteraction {
    const buttons = message.components.flatMap((row) => row.components);
    if (message.deleted || !buttons.some((b) => b.custom_id === customId && !b.disabled)) {
      throw new Error(
        `message ${message.id} shows no button ${customId} (it has: ${buttons.map((b) => b.custom_id).join(', ') || 'none'})`,
      );
    }
    // A button under a DM message is pressed in that DM.
    const where = message.guildId ? { channelId: message.channelId } : { dm: true };
    return this.dispatchInteraction(
      member,
      3,
      where,
      { data: { custom_id: customId, component_type: 2 }, message: this.messageJson(message) },
      message.id,
    );
  }

  /**
   * A member fills in and submits the modal the bot opened (callback type 9) in answer to `opener`: an interaction of
   * type 5 with the modal's custom_id and the text inputs' values, as Discord sends it.
   */
  submitModal(member: FakeMember, opener: FakeInteraction, values: Record<string, string>): FakeInteraction {
    const modal = opener.callbacks.find((c) => c.type === 9)?.data as
      { custom_id?: string; components?: { components: { custom_id: string }[] }[] } | undefined;
    if (!modal?.custom_id) throw new Error(`interaction ${opener.id} opened no modal`);
    const inputs = (modal.components ?? []).flatMap((row) => row.components.map((c) => c.custom_id));
    for (const name of Object.keys(values))
      if (!inputs.includes(name)) throw new Error(`the modal has no input ${name} (it has: ${inputs.join(', ')})`);
    const where = opener.guildId ? { channelId: opener.channelId } : { dm: true };
    const components = inputs.map((id) => ({
      type: 1,
      components: [{ type: 4, custom_id: id, value: values[id] ?? '' }],
    }));
    return this.dispatchInteraction(
      member,
      5,
      where,
      { data: { custom_id: modal.custom_id, components } },
      opener.messageId,
    );
  }

  /** A member posts a message mentioning the bot (`@clipbot <text>`), optionally with attachments. */
  mention(
    member: FakeMember,
    text: string,
    opts: { attachments?: FakeAttachment[]; channelId?: string } = {},
  ): FakeMessage {
    return this.post(member, `<@${this.bot.id}> ${text}`, opts);
  }

  /**
   * A member posts a message. As on Discord, a bot without the Message Content intent gets the event with the
   * content and attachments emptied, unless the message mentions it.
   */
  post(
    member: FakeMember,
    content: string,
    opts: { attachments?: FakeAttachment[]; channelId?: string } = {},
  ): FakeMessage {
    const channelId = opts.channelId ?? this.channelId;
    const message = this.addMessage({
      channelId,
      authorId: member.id,
      origin: 'member',
      body: { content },
      files: [],
      via: 'channel',
    });
    const mentionsBot = new RegExp(`<@!?${this.bot.id}>`).test(content);
    const attachments = (opts.attachments ?? []).map((a) => attachmentPayload(a));
    this.gateway.dispatch('MESSAGE_CREATE', this.guildOf(channelId), (intents) => {
      const readable = mentionsBot || (intents & MESSAGE_CONTENT_INTENT) !== 0;
      return {
        id: message.id,
        channel_id: channelId,
        guild_id: this.guildOf(channelId),
        author: userPayload(member),
        member: { ...memberPayload(member, this.joinedAt), user: undefined, permissions: undefined },
        content: readable ? content : '',
        timestamp: new Date(message.createdAt).toISOString(),
        edited_timestamp: null,
        tts: false,
        mention_everyone: false,
        mentions: mentionsBot ? [userPayload(this.bot)] : [],
        mention_roles: [],
        attachments: readable ? attachments : [],
        embeds: [],
        pinned: false,
        type: 0,
        flags: 0,
        components: [],
      };
    });
    return message;
  }

  // ------------------------------------------------------------------ premium purchases (discord-monetization.ts)

  /** A SKU the owners created in the Developer Portal; by default a one-time consumable, as credit packs are. */
  addSku(name: string, type?: number): FakeSku {
    return this.monetization.addSku(name, type);
  }

  /** A member completes Discord's purchase dialog for `skuId` (see FakeMonetization.purchase). */
  purchase(member: FakeUser, skuId: string, opts: { type?: number; guildId?: string } = {}): FakeEntitlement {
    return this.monetization.purchase(member, skuId, opts);
  }

  /** The member presses the premium button for `skuId` under one of the bot's messages and completes the purchase. */
  buyWith(member: FakeUser, message: FakeMessage, skuId: string): FakeEntitlement {
    const buttons = message.components.flatMap((row) => row.components);
    if (message.deleted || !buttons.some((b) => b.style === PREMIUM_STYLE && b.sku_id === skuId)) {
      throw new Error(`message ${message.id} shows no premium button for SKU ${skuId}`);
    }
    return this.purchase(member, skuId);
  }

  /** ENTITLEMENT_CREATE delivered again for an existing entitlement (a gateway replay). */
  redeliverEntitlement(id: string): boolean {
    return this.monetization.redeliver(id);
  }

  /** Discord refunds the purchase (or removes it by hand): the entitlement is deleted and ENTITLEMENT_DELETE dispatched. */
  deleteEntitlement(id: string): FakeEntitlement {
    return this.monetization.delete(id);
  }

  /** Every entitlement members' purchases created, oldest first (consumed and deleted ones included). */
  get entitlements(): readonly FakeEntitlement[] {
    return this.monetization.entitlements;
  }

  // ------------------------------------------------------------------ reading what the bot did

  message(id: string | undefined): FakeMessage | undefined {
    return id ? this.messages.find((m) => m.id === id) : undefined;
  }

  /** The interaction's response message (the deferred or immediate reply). */
  original(interaction: FakeInteraction): FakeMessage | undefined {
    return this.message(interaction.originalId);
  }

  followUps(interaction: FakeInteraction): FakeMessage[] {
    return interaction.followUpIds.map((id) => this.message(id)!);
  }

  /** Messages the bot posted in a channel through the channel route (bot token), oldest first. */
  channelMessages(channelId = this.channelId): FakeMessage[] {
    return this.messages.filter(
      (m) => m.channelId === channelId && m.origin === 'channel' && m.authorId === this.bot.id && !m.deleted,
    );
  }

  /** Every message the bot made, whatever the route, oldest first. */
  botMessages(): FakeMessage[] {
    return this.messages.filter((m) => m.authorId === this.bot.id);
  }

  /** Requests to `method` whose decoded path matches. */
  calls(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  /** Polls `read` (which may be async: a read of the bot's store) until it gives something truthy (default 5 s), else throws with `what`. */
  async waitFor<T>(
    what: string,
    read: () => T | undefined | null | false | PromiseLike<T | undefined | null | false>,
    timeoutMs = 5000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await read();
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  // ------------------------------------------------------------------ HTTP

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.origin);
    if (req.method === 'GET' && url.pathname.startsWith('/attachments/'))
      return this.serveAttachment(url.pathname, res);
    const raw = await readBody(req);
    if (!url.pathname.startsWith(`${API_PREFIX}/`))
      return send(res, { status: 404, body: { message: '404: Not Found', code: 0 } });
    const path = decodeURIComponent(url.pathname.slice(API_PREFIX.length));
    const method = req.method ?? 'GET';
    const header = req.headers.authorization;
    const parsed = await parseBody(req.headers['content-type'], raw);
    const record: RecordedRequest = {
      method,
      path,
      query: url.searchParams,
      auth: header === undefined ? 'none' : header === `Bot ${this.token}` ? 'bot' : 'bad',
      body:
        parsed.json !== null && typeof parsed.json === 'object' && !Array.isArray(parsed.json)
          ? (parsed.json as MessageBody)
          : undefined,
      json: parsed.json,
      files: parsed.files,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(record);
    const fault = this.takeFault(record);
    if (fault?.phase !== 'after' && fault) return this.spoil(res, record, fault.respond);
    let reply: Reply;
    try {
      reply = this.route(record);
    } catch (e) {
      reply = { status: 500, body: { message: `fake Discord bug: ${(e as Error).message}`, code: 0 } };
    }
    if (fault) return this.spoil(res, record, fault.respond);
    record.status = reply.status;
    send(res, reply);
  }

  private spoil(res: ServerResponse, record: RecordedRequest, respond: FaultResponse): void {
    if (respond === 'reset') {
      res.socket?.destroy();
      return;
    }
    record.status = respond.status;
    send(res, {
      status: respond.status,
      body: respond.body ?? { message: 'injected', code: 0 },
      ...(respond.headers ? { headers: respond.headers } : {}),
    });
  }

  private takeFault(r: RecordedRequest): (FakeFault & { left: number }) | undefined {
    const fault = this.faults.find(
      (f) =>
        f.left > 0 &&
        (!f.method || f.method === r.method) &&
        f.path.test(r.path) &&
        (!f.uploadsOnly || r.files.length > 0),
    );
    if (fault) fault.left--;
    return fault;
  }

  private route(r: RecordedRequest): Reply {
    const m = (pattern: RegExp) => pattern.exec(r.path);
    let match: RegExpExecArray | null;
    // Interaction callbacks and webhooks are authorized by their token, not the bot token.
    if (r.method === 'POST' && (match = m(/^\/interactions\/(\d+)\/([^/]+)\/callback$/)))
      return this.callback(match[1]!, match[2]!, r);
    if ((match = m(/^\/webhooks\/(\d+)\/([^/]+)\/messages\/([^/]+)$/)))
      return this.webhookMessage(match[1]!, match[2]!, match[3]!, r);
    if (r.method === 'POST' && (match = m(/^\/webhooks\/(\d+)\/([^/]+)$/)))
      return this.followUp(match[1]!, match[2]!, r);
    if (r.auth !== 'bot') return error(401, 0, '401: Unauthorized');

    if (r.method === 'GET' && (r.path === '/gateway/bot' || r.path === '/gateway')) {
      return {
        status: 200,
        body: {
          url: this.gatewayUrl,
          shards: this.recommendedShards(),
          session_start_limit: { total: 1000, remaining: 1000, reset_after: 0, max_concurrency: 1 },
        },
      };
    }
    if (r.method === 'GET' && r.path === '/users/@me') return { status: 200, body: userPayload(this.bot) };
    // What `npm run doctor` reads: the application (its id makes the invite link) and the servers the bot is in.
    if (r.method === 'GET' && r.path === '/applications/@me') {
      return {
        status: 200,
        body: {
          id: this.applicationId,
          name: this.bot.username,
          bot_public: true,
          bot_require_code_grant: false,
          flags: 0,
          bot: userPayload(this.bot),
        },
      };
    }
    if (r.method === 'GET' && r.path === '/users/@me/guilds') {
      return {
        status: 200,
        body: this.guilds.map((g) => ({
          id: g.id,
          name: g.name,
          icon: null,
          owner: false,
          permissions: '0',
          features: [],
        })),
      };
    }
    if (r.method === 'DELETE' && (match = m(/^\/users\/@me\/guilds\/(\d+)$/))) return this.leaveGuild(match[1]!);
    if ((match = m(/^\/applications\/(\d+)\/commands$/))) return this.commandsRoute(match[1]!, undefined, r);
    if (r.method === 'GET' && (match = m(/^\/applications\/(\d+)\/skus$/)))
      return this.monetization.listSkus(match[1]!);
    if (r.method === 'GET' && (match = m(/^\/applications\/(\d+)\/entitlements$/)))
      return this.monetization.list(match[1]!, r.query);
    if (r.method === 'POST' && (match = m(/^\/applications\/(\d+)\/entitlements\/(\d+)\/consume$/)))
      return this.monetization.consume(match[1]!, match[2]!);
    if ((match = m(/^\/applications\/(\d+)\/guilds\/(\d+)\/commands$/)))
      return this.commandsRoute(match[1]!, match[2]!, r);
    if (r.method === 'POST' && (match = m(/^\/channels\/(\d+)\/messages$/)))
      return this.createChannelMessage(match[1]!, r);
    if ((match = m(/^\/channels\/(\d+)\/messages\/(\d+)$/))) return this.channelMessage(match[1]!, match[2]!, r);
    if (r.method === 'GET' && (match = m(/^\/channels\/(\d+)$/))) {
      const channel = this.channel(match[1]!);
      return channel ? { status: 200, body: channelPayload(channel) } : error(404, 10003, 'Unknown Channel');
    }
    return error(404, 0, '404: Not Found');
  }

  /** What GET /gateway/bot recommends: enough shards that none nears the limit of servers per shard. */
  private recommendedShards(): number {
    return Math.max(1, Math.ceil(this.guilds.length / Math.min(RECOMMENDED_GUILDS_PER_SHARD, this.maxGuildsPerShard)));
  }

  // ------------------------------------------------------------------ commands

  private commandsRoute(appId: string, guildId: string | undefined, r: RecordedRequest): Reply {
    if (appId !== this.applicationId) return error(403, 50001, 'Missing Access');
    if (guildId && !this.guilds.some((g) => g.id === guildId)) return error(403, 50001, 'Missing Access');
    if (r.method === 'GET')
      return { status: 200, body: (guildId ? this.commands.guilds.get(guildId) : this.commands.global) ?? [] };
    if (r.method !== 'PUT') return error(405, 0, '405: Method Not Allowed');
    if (!Array.isArray(r.json)) return error(400, 50035, 'Invalid Form Body');
    const list = r.json as ApiCommand[];
    const problem = list.map((c) => validateCommand(c)).find(Boolean);
    if (problem) return { status: 400, body: { message: 'Invalid Form Body', code: 50035, errors: problem } };
    const stored = list.map((c) => ({
      ...c,
      id: snowflake(),
      application_id: this.applicationId,
      version: snowflake(),
      type: 1,
      ...(guildId ? { guild_id: guildId } : {}),
    }));
    if (guildId) this.commands.guilds.set(guildId, stored);
    else this.commands.global = stored;
    return { status: 200, body: stored };
  }

  private registeredCommand(name: string): ApiCommand {
    const found =
      this.commands.guilds.get(this.guild.id)?.find((c) => c.name === name) ??
      this.commands.global?.find((c) => c.name === name);
    if (!found) throw new Error(`the bot has not registered /${name}`);
    return found;
  }

  // ------------------------------------------------------------------ interactions

  private dispatchInteraction(
    member: FakeMember,
    type: 2 | 3 | 4 | 5,
    where: { channelId?: string; dm?: boolean; attachmentSizeLimit?: number },
    extra: object,
    messageId?: string,
  ): FakeInteraction {
    const channel = where.dm ? this.dmChannel(member) : this.channel(where.channelId ?? this.channelId)!;
    const guild = this.guilds.find((g) => g.id === channel.guildId) ?? this.guild;
    const interaction: FakeInteraction = {
      id: snowflake(),
      token: `itoken-${snowflake()}-${Math.random().toString(36).slice(2)}`,
      type,
      member,
      channelId: channel.id,
      guildId: where.dm ? null : guild.id,
      dispatchedAt: Date.now(),
      callbacks: [],
      originalId: undefined,
      followUpIds: [],
      expired: false,
      messageId,
    };
    this.interactions.push(interaction);
    const who = where.dm
      ? { user: userPayload(member), context: 1, authorizing_integration_owners: { '0': this.guild.id } }
      : {
          guild_id: guild.id,
          member: memberPayload(member, this.joinedAt),
          guild_locale: guild.preferredLocale,
          context: 0,
          authorizing_integration_owners: { '0': guild.id },
        };
    const sent = this.gateway.dispatch('INTERACTION_CREATE', where.dm ? null : guild.id, {
      id: interaction.id,
      application_id: this.applicationId,
      type,
      token: interaction.token,
      version: 1,
      channel_id: channel.id,
      channel: { ...channelPayload(channel), ...(where.dm ? { recipients: [userPayload(member)] } : {}) },
      app_permissions: MEMBER_PERMISSIONS.toString(),
      locale: member.locale,
      entitlements: [],
      attachment_size_limit: where.attachmentSizeLimit ?? 10 * 1024 * 1024,
      ...who,
      ...extra,
    });
    if (!sent) throw new Error('no bot is connected to the fake gateway on the shard of this interaction');
    return interaction;
  }

  private callback(interactionId: string, token: string, r: RecordedRequest): Reply {
    const interaction = this.interactions.find((i) => i.id === interactionId && i.token === token);
    if (!interaction || Date.now() - interaction.dispatchedAt > FIRST_RESPONSE_MS)
      return error(404, 10062, 'Unknown interaction');
    if (interaction.callbacks.length > 0) return error(400, 40060, 'Interaction has already been acknowledged.');
    const type = Number((r.json as { type?: unknown } | undefined)?.type);
    const data = (r.json as { data?: MessageBody } | undefined)?.data;
    if (![4, 5, 6, 7, 8, 9].includes(type)) return error(400, 50035, 'Invalid Form Body');
    // A modal opens from a command or a component, never in answer to another modal (type 5) or an autocomplete.
    if (type === 9 && (interaction.type === 5 || interaction.type === 4))
      return error(400, 50035, 'Invalid interaction response type');
    if ((type === 6 || type === 7) && interaction.type !== 3)
      return error(400, 40043, 'Interaction type is not a component');
    if (type === 8 && interaction.type !== 4) return error(400, 50035, 'Invalid interaction response type');
    if (type === 4 && !hasMessageContent(data, r.files)) return error(400, 50006, 'Cannot send an empty message');
    if (type === 4 && (data?.content?.length ?? 0) > MAX_CONTENT)
      return error(400, 50035, 'Invalid Form Body: content too long');
    const badComponents = type === 4 || type === 7 ? this.checkComponents(data) : undefined;
    if (badComponents) return badComponents;
    interaction.callbacks.push({ type, data, at: Date.now() });
    let message: FakeMessage | undefined;
    if (type === 4 || type === 5) {
      message = this.addMessage({
        channelId: interaction.channelId,
        authorId: this.bot.id,
        origin: 'interaction',
        body: { ...(data ?? {}), ...(type === 5 ? { content: '' } : {}) },
        files: type === 4 ? r.files : [],
        via: 'callback',
        interactionId: interaction.id,
        loading: type === 5,
      });
      interaction.originalId = message.id;
    } else if (type === 6 || type === 7) {
      message = this.message(interaction.messageId);
      interaction.originalId = interaction.messageId;
      if (type === 7 && message) this.editMessage(message, data ?? {}, [], 'callback');
    }
    if (r.query.get('with_response') !== 'true') return { status: 204 };
    return {
      status: 200,
      body: {
        interaction: {
          id: interaction.id,
          type: interaction.type,
          activity_instance_id: null,
          response_message_id: message?.id ?? null,
          response_message_loading: type === 5,
          response_message_ephemeral: ((message?.flags ?? 0) & EPHEMERAL) !== 0,
        },
        resource: { type, ...(message ? { message: this.messageJson(message) } : {}) },
      },
    };
  }

  private interactionByToken(appId: string, token: string): FakeInteraction | Reply {
    const interaction = this.interactions.find((i) => i.token === token);
    if (
      appId !== this.applicationId ||
      !interaction ||
      interaction.expired ||
      Date.now() - interaction.dispatchedAt > TOKEN_LIFETIME_MS
    ) {
      return error(401, 50027, 'Invalid Webhook Token');
    }
    if (interaction.callbacks.length === 0) return error(404, 10015, 'Unknown Webhook');
    return interaction;
  }

  private webhookMessage(appId: string, token: string, which: string, r: RecordedRequest): Reply {
    const interaction = this.interactionByToken(appId, token);
    if ('status' in interaction) return interaction;
    const id = which === '@original' ? interaction.originalId : which;
    const message = this.message(id);
    if (!message || message.deleted || (id !== interaction.originalId && !interaction.followUpIds.includes(id!)))
      return error(404, 10008, 'Unknown Message');
    if (r.method === 'GET') return { status: 200, body: this.messageJson(message) };
    if (r.method === 'DELETE') {
      message.deleted = true;
      return { status: 204 };
    }
    if (r.method !== 'PATCH') return error(405, 0, '405: Method Not Allowed');
    const problem = this.checkWrite(
      r,
      message.files.length > 0 || (message.content.length > 0 && r.body?.content === undefined),
    );
    if (problem) return problem;
    this.editMessage(message, r.body ?? {}, r.files, 'webhook');
    return { status: 200, body: this.messageJson(message) };
  }

  private followUp(appId: string, token: string, r: RecordedRequest): Reply {
    const interaction = this.interactionByToken(appId, token);
    if ('status' in interaction) return interaction;
    const problem = this.checkWrite(r, false);
    if (problem) return problem;
    const message = this.addMessage({
      channelId: interaction.channelId,
      authorId: this.bot.id,
      origin: 'followup',
      body: r.body ?? {},
      files: r.files,
      via: 'webhook',
      interactionId: interaction.id,
    });
    interaction.followUpIds.push(message.id);
    return r.query.get('wait') === 'true' ? { status: 200, body: this.messageJson(message) } : { status: 204 };
  }

  // ------------------------------------------------------------------ channel messages (bot token)

  private createChannelMessage(channelId: string, r: RecordedRequest): Reply {
    if (!this.channel(channelId)) return error(404, 10003, 'Unknown Channel');
    const problem = this.checkWrite(r, false);
    if (problem) return problem;
    const body = r.body ?? {};
    if (body.enforce_nonce && body.nonce !== undefined) {
      // Discord: "If another message was created by the same author with the same nonce, that message will be returned".
      const same = this.messages.find(
        (m) =>
          m.channelId === channelId &&
          m.authorId === this.bot.id &&
          m.nonce === String(body.nonce) &&
          Date.now() - m.createdAt < NONCE_WINDOW_MS,
      );
      if (same) return { status: 200, body: this.messageJson(same) };
    }
    const reference = body.message_reference;
    if (reference && !this.message(reference.message_id) && reference.fail_if_not_exists !== false) {
      return error(400, 50035, 'Invalid Form Body: Unknown message');
    }
    const message = this.addMessage({
      channelId,
      authorId: this.bot.id,
      origin: 'channel',
      body,
      files: r.files,
      via: 'channel',
    });
    return { status: 200, body: this.messageJson(message) };
  }

  private channelMessage(channelId: string, messageId: string, r: RecordedRequest): Reply {
    const message = this.message(messageId);
    // Ephemeral messages exist only for their recipient: the channel routes do not know them.
    if (!message || message.deleted || message.channelId !== channelId || (message.flags & EPHEMERAL) !== 0)
      return error(404, 10008, 'Unknown Message');
    if (r.method === 'GET') return { status: 200, body: this.messageJson(message) };
    if (message.authorId !== this.bot.id) return error(403, 50005, 'Cannot edit a message authored by another user');
    if (r.method === 'DELETE') {
      message.deleted = true;
      return { status: 204 };
    }
    if (r.method !== 'PATCH') return error(405, 0, '405: Method Not Allowed');
    const problem = this.checkWrite(
      r,
      message.files.length > 0 || (message.content.length > 0 && r.body?.content === undefined),
    );
    if (problem) return problem;
    this.editMessage(message, r.body ?? {}, r.files, 'channel');
    return { status: 200, body: this.messageJson(message) };
  }

  /** Content length, empty messages, and the upload limit. */
  private checkWrite(r: RecordedRequest, hasOtherContent: boolean): Reply | undefined {
    const uploaded = r.files.reduce((n, f) => n + f.data.length, 0);
    if (uploaded > this.uploadLimitBytes) return error(413, 40005, 'Request entity too large');
    if ((r.body?.content?.length ?? 0) > MAX_CONTENT)
      return error(400, 50035, 'Invalid Form Body: content must be 2000 or fewer in length');
    if (!hasOtherContent && !hasMessageContent(r.body, r.files))
      return error(400, 50006, 'Cannot send an empty message');
    return this.checkComponents(r.body);
  }

  /**
   * Buttons as Discord validates them: styles 1-4 need a custom_id, 5 a url, 6 (Premium) a sku_id of a SKU this
   * application sells and nothing else (no custom_id, url, label or emoji); at most 5 buttons a row, 5 rows.
   */
  private checkComponents(body: MessageBody | undefined): Reply | undefined {
    const rows = body?.components ?? [];
    const bad = (why: string) => ({
      status: 400,
      body: { message: 'Invalid Form Body', code: 50035, errors: { components: why } },
    });
    if (rows.length > 5) return bad('more than 5 rows');
    for (const row of rows) {
      if (row.type !== 1 || !Array.isArray(row.components) || row.components.length === 0 || row.components.length > 5)
        return bad('a row holds 1-5 components');
      for (const b of row.components) {
        if (b.type !== 2) continue;
        if (b.style === PREMIUM_STYLE) {
          if (b.custom_id !== undefined || b.url !== undefined || b.label !== undefined || b.emoji !== undefined)
            return bad('a premium button takes only sku_id');
          if (!b.sku_id || !this.monetization.skus.has(b.sku_id)) return bad(`unknown sku_id ${String(b.sku_id)}`);
        } else if (b.style === 5) {
          if (!b.url || b.custom_id !== undefined || b.sku_id !== undefined) return bad('a link button takes a url');
        } else if (b.style >= 1 && b.style <= 4) {
          if (!b.custom_id || b.url !== undefined || b.sku_id !== undefined) return bad('a button takes a custom_id');
        } else return bad(`unknown button style ${b.style}`);
      }
    }
    return undefined;
  }

  // ------------------------------------------------------------------ state

  private addMessage(m: {
    channelId: string;
    authorId: string;
    origin: FakeMessage['origin'];
    body: MessageBody;
    files: SentFile[];
    via: 'callback' | 'webhook' | 'channel';
    interactionId?: string;
    loading?: boolean;
  }): FakeMessage {
    const channel = this.channel(m.channelId);
    const message: FakeMessage = {
      id: snowflake(),
      channelId: m.channelId,
      guildId: channel?.guildId ?? null,
      authorId: m.authorId,
      content: m.body.content ?? '',
      components: m.body.components ?? [],
      files: m.files,
      flags: (m.body.flags ?? 0) | (m.loading ? LOADING : 0),
      allowedMentions: m.body.allowed_mentions,
      nonce: m.body.nonce === undefined ? undefined : String(m.body.nonce),
      origin: m.origin,
      interactionId: m.interactionId,
      referencedMessageId: m.body.message_reference?.message_id,
      deleted: false,
      loading: m.loading ?? false,
      createdAt: Date.now(),
      history: [],
      pinged: { everyone: false, users: [], roles: [] },
    };
    message.history.push({
      content: message.content,
      components: message.components,
      via: m.via,
      at: message.createdAt,
    });
    if (!message.loading) message.pinged = this.pingsOf(message);
    this.messages.push(message);
    return message;
  }

  private editMessage(
    message: FakeMessage,
    body: MessageBody,
    files: SentFile[],
    via: 'callback' | 'webhook' | 'channel',
  ): void {
    if (body.content !== undefined) message.content = body.content ?? '';
    if (body.components !== undefined) message.components = body.components ?? [];
    if (body.allowed_mentions !== undefined) message.allowedMentions = body.allowed_mentions;
    if (files.length > 0) message.files = files;
    else if (Array.isArray(body.attachments) && body.attachments.length === 0) message.files = [];
    message.history.push({ content: message.content, components: message.components, via, at: Date.now() });
    // The first edit of a deferred response is when its content appears: count its pings then (conservatively).
    if (message.loading) {
      message.loading = false;
      message.flags &= ~LOADING;
      message.pinged = this.pingsOf(message);
    }
  }

  /** Discord's mention rules: without `allowed_mentions` everything in the content pings; with it, only what it allows. */
  private pingsOf(message: FakeMessage): FakeMessage['pinged'] {
    const allowed = message.allowedMentions;
    const parse = allowed ? (allowed.parse ?? []) : ['users', 'roles', 'everyone'];
    const inContent = [...message.content.matchAll(/<@!?(\d+)>/g)].map((x) => x[1]!);
    const users = inContent.filter((id) => parse.includes('users') || (allowed?.users ?? []).includes(id));
    const repliedTo = this.message(message.referencedMessageId);
    if (
      repliedTo &&
      repliedTo.authorId !== message.authorId &&
      (allowed === undefined || allowed.replied_user === true)
    )
      users.push(repliedTo.authorId);
    const roles = [...message.content.matchAll(/<@&(\d+)>/g)]
      .map((x) => x[1]!)
      .filter((id) => parse.includes('roles') || (allowed?.roles ?? []).includes(id));
    return {
      everyone: parse.includes('everyone') && /@(everyone|here)/.test(message.content),
      users: [...new Set(users)],
      roles: [...new Set(roles)],
    };
  }

  private channel(id: string): FakeChannel | undefined {
    return this.guilds.flatMap((g) => g.channels).find((c) => c.id === id) ?? this.dmChannels.get(id);
  }

  /** The server a channel belongs to (the first one for the default channel). */
  private guildOf(channelId: string | undefined): string {
    return this.channel(channelId ?? this.channelId)?.guildId ?? this.guild.id;
  }

  /** The bot leaves a server: it is gone from the bot's list, and the bot is told with a GUILD_DELETE. */
  private leaveGuild(guildId: string): Reply {
    const at = this.guilds.findIndex((g) => g.id === guildId);
    if (at < 0) return error(404, 10004, 'Unknown Guild');
    this.guilds.splice(at, 1);
    this.leftGuilds.push(guildId);
    this.gateway.dispatch('GUILD_DELETE', guildId, { id: guildId });
    return { status: 204 };
  }

  private dmChannel(member: FakeMember): FakeChannel {
    const existing = [...this.dmChannels.values()].find((c) => c.name === member.id);
    if (existing) return existing;
    const channel = { id: snowflake(), name: member.id, guildId: null };
    this.dmChannels.set(channel.id, channel);
    return channel;
  }

  private messageJson(message: FakeMessage) {
    const author =
      message.authorId === this.bot.id
        ? userPayload(this.bot)
        : { id: message.authorId, username: 'member', discriminator: '0', global_name: null, avatar: null };
    return {
      id: message.id,
      channel_id: message.channelId,
      ...(message.guildId ? { guild_id: message.guildId } : {}),
      author,
      content: message.content,
      timestamp: new Date(message.createdAt).toISOString(),
      edited_timestamp: message.history.length > 1 ? new Date(message.history.at(-1)!.at).toISOString() : null,
      tts: false,
      mention_everyone: message.pinged.everyone,
      mentions: [],
      mention_roles: [],
      attachments: message.files.map((f, i) => ({
        id: `${message.id}${i}`,
        filename: f.filename,
        size: f.data.length,
        url: `${this.origin}/attachments/${message.channelId}/${message.id}/${encodeURIComponent(f.filename)}`,
        proxy_url: `${this.origin}/attachments/${message.channelId}/${message.id}/${encodeURIComponent(f.filename)}`,
        content_type: f.contentType,
      })),
      embeds: [],
      components: message.components,
      pinned: false,
      type: message.referencedMessageId ? 19 : 0,
      flags: message.flags,
      ...(message.nonce !== undefined ? { nonce: message.nonce } : {}),
      ...(message.interactionId ? { webhook_id: this.applicationId, application_id: this.applicationId } : {}),
      ...(message.referencedMessageId
        ? { message_reference: { message_id: message.referencedMessageId, channel_id: message.channelId } }
        : {}),
    };
  }

  private serveAttachment(pathname: string, res: ServerResponse): void {
    const [, , scope, id] = pathname.split('/');
    if (scope === 'uploads') {
      const file = this.hosted.get(id ?? '');
      if (file) return send(res, { status: 200, body: file.data, headers: { 'content-type': file.contentType } });
    } else {
      const message = this.message(id);
      const name = decodeURIComponent(pathname.split('/').at(-1) ?? '');
      const file = message?.files.find((f) => f.filename === name);
      if (file) return send(res, { status: 200, body: file.data, headers: { 'content-type': file.contentType } });
    }
    send(res, { status: 404, body: { message: 'Not Found', code: 0 } });
  }
}

// ------------------------------------------------------------------ helpers

/** A snowflake of a server on `shard`: the shard comes from the id's timestamp bits, so step the time back until it fits. */
function snowflakeOnShard([id, count]: Shard): string {
  for (let ago = 0; ; ago++) {
    const candidate = snowflake(Date.now() - ago);
    if (shardOf(candidate, count) === id) return candidate;
  }
}

function hasMessageContent(body: MessageBody | undefined, files: SentFile[]): boolean {
  return Boolean(body?.content) || files.length > 0 || (body?.components?.length ?? 0) > 0;
}

const NAME = /^[-_\p{Ll}\p{N}]{1,32}$/u;

/** The checks Discord applies to a bulk overwrite that a bot can get wrong. */
function validateCommand(c: ApiCommand): string | undefined {
  if (!NAME.test(c.name)) return `${c.name}: invalid name`;
  if (!c.description || c.description.length > 100) return `${c.name}: description must be 1-100 characters`;
  const options = c.options ?? [];
  if (options.length > 25) return `${c.name}: more than 25 options`;
  let optional = false;
  for (const o of options) {
    if (!NAME.test(o.name)) return `${c.name}.${o.name}: invalid option name`;
    if (!o.description || o.description.length > 100)
      return `${c.name}.${o.name}: description must be 1-100 characters`;
    if (o.required && optional) return `${c.name}.${o.name}: required options must come before optional ones`;
    if (!o.required) optional = true;
    if (o.choices && (o.choices.length > 25 || o.autocomplete)) return `${c.name}.${o.name}: bad choices`;
  }
  const localized = c['description_localizations'] as Record<string, string> | undefined;
  if (localized && Object.values(localized).some((d) => !d || d.length > 100))
    return `${c.name}: localized description must be 1-100 characters`;
  return undefined;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function parseBody(contentType: string | undefined, raw: Buffer): Promise<{ json: unknown; files: SentFile[] }> {
  if (raw.length === 0) return { json: undefined, files: [] };
  if (contentType?.startsWith('multipart/form-data')) {
    // discord.js's multipart is canonical: the platform's own parser reads it (platforms.md §1).
    const form = await new Response(new Uint8Array(raw), { headers: { 'content-type': contentType } }).formData();
    const files: SentFile[] = [];
    let json: unknown;
    for (const [field, value] of form.entries()) {
      if (field === 'payload_json' && typeof value === 'string') json = JSON.parse(value);
      else if (typeof value !== 'string')
        files.push({
          field,
          filename: value.name,
          contentType: value.type,
          data: Buffer.from(await value.arrayBuffer()),
        });
    }
    return { json, files };
  }
  try {
    return { json: JSON.parse(raw.toString('utf8')), files: [] };
  } catch {
    return { json: undefined, files: [] };
  }
}

function send(res: ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: Record<string, string> = { ...(reply.headers ?? {}) };
  if (reply.status === 204 || reply.body === undefined) {
    res.writeHead(reply.status, headers);
    res.end();
    return;
  }
  if (Buffer.isBuffer(reply.body)) {
    res.writeHead(reply.status, { 'content-length': String(reply.body.length), ...headers });
    res.end(reply.body);
    return;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}
