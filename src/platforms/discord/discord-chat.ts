import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import {
  ButtonStyle,
  ComponentType,
  DiscordAPIError,
  HTTPError,
  RateLimitError,
  Routes,
  TextInputStyle,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIMessage,
  type APIModalInteractionResponseCallbackData,
  type REST,
  type RawFile,
} from 'discord.js';
import { jobActionData, parseJobAction } from '../../../commands/job-actions.js';
import { parseQuoteAction } from '../../../commands/quote-actions.js';
import type { Offer } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import { MediaError } from '../../core/errors.js';
import type { Resolution } from '../../core/catalog.js';
import type {
  ChatPlatform,
  Clock,
  JobDestination,
  Logger,
  MessageRef,
  ResultDelivery,
  StatusView,
} from '../../core/ports.js';
import { escapeForDiscord } from './discord-markdown.js';
import { say } from './discord-text.js';

/**
 * The engine's side of Discord (the `ChatPlatform` port), on its own REST client so it keeps working while the
 * gateway reconnects or after it closed (the engine parks jobs after the adapter stopped).
 *
 * Where a status message lives: a slash command's deferred public reply *is* the status message (one message,
 * edited in place). It is edited through the interaction's webhook token while that token lives (kept in memory
 * only); when the token expires (15 min, or a 401 / 50027) or after a restart, the same message is edited through
 * the channel route with the bot token, which works for non-ephemeral replies. Only if that fails too (deleted,
 * no access) does `editStatus` return false, and the engine posts a fresh status as a channel message.
 *
 * Results and notices are always new channel messages (a new message notifies, an edit does not), sent with
 * `nonce` + `enforce_nonce`, so a request that discord.js or the engine retries after a timeout returns the
 * message already made instead of posting the video twice.
 */

/** Default per-file upload limit for bots (since 2025-01-16) when no interaction told us the real one. */
export const DEFAULT_UPLOAD_LIMIT_BYTES = 10 * 1024 * 1024;
/** Tokens last 15 min; stop using one a little before, rather than spend a 401 finding out. */
const TOKEN_LIFETIME_MS = 14 * 60_000;
const MAX_CONTENT = 2000;

export const CUSTOM_ID = {
  cancel: (jobId: string) => `clipbot:${jobActionData('cancel', jobId)}`,
  retry: (jobId: string) => `clipbot:${jobActionData('retry', jobId)}`,
  upscale: (jobId: string, resolution: Resolution) => `clipbot:${jobActionData('upscale', jobId, resolution)}`,
  extend: (jobId: string) => `clipbot:${jobActionData('extend', jobId)}`,
  parse(customId: string): ReturnType<typeof parseJobAction> {
    return customId.startsWith('clipbot:') ? parseJobAction(customId.slice('clipbot:'.length)) : undefined;
  },
  /** A quote's Confirm / Cancel (quote-actions.ts). */
  parseQuote(customId: string): ReturnType<typeof parseQuoteAction> {
    return customId.startsWith('clipbot:') ? parseQuoteAction(customId.slice('clipbot:'.length)) : undefined;
  },
};

/** An offer's buttons (a quote's Confirm and Cancel) as one row of components. */
export function offerComponents(offer: Offer): APIActionRowComponent<APIButtonComponent>[] {
  if (offer.buttons.length === 0) return [];
  return [
    row(
      ...offer.buttons.map((b) =>
        button(`clipbot:${b.data}`, b.label, b.primary ? ButtonStyle.Primary : ButtonStyle.Secondary),
      ),
    ),
  ];
}

/**
 * How the first status of a job a request makes is shown: in the command's deferred public reply (edited through
 * its token), or as a reply to the member's message (the mention trigger). In memory, for as long as the request
 * is being handled (`handingOver`).
 */
export type StatusHandover = { reply: LiveReply } | { replyTo: string };

/** An interaction whose webhook token can still edit its reply. In memory only: tokens are never stored. */
export interface LiveReply {
  applicationId: string;
  token: string;
  expiresAt: number;
  /** Set once the reply has become a job's status message. */
  usedAsStatus: boolean;
}

export interface DiscordChatDeps {
  rest: REST;
  logger: Logger;
  clock: Clock;
}

export class DiscordChat implements ChatPlatform {
  readonly id = 'discord' as const;
  /** Requests being handled, by their id (an interaction's or a message's: what a job's `requestMessageId` names). */
  private readonly handovers = new Map<string, StatusHandover>();
  /** Status messages (by message id) still editable through their interaction's token. */
  private readonly tokens = new Map<string, LiveReply>();

  constructor(private readonly deps: DiscordChatDeps) {}

  /** The deferred public reply of `interaction`, able to become a job's status while its token lives. */
  liveReply(interaction: { applicationId: string; token: string }): LiveReply {
    return {
      applicationId: interaction.applicationId,
      token: interaction.token,
      expiresAt: this.deps.clock.now() + TOKEN_LIFETIME_MS,
      usedAsStatus: false,
    };
  }

  /** Runs the handling of request `requestId`: a job it makes shows its first status by `handover`; after it, nothing does. */
  async handingOver<T>(requestId: string, handover: StatusHandover | undefined, run: () => Promise<T>): Promise<T> {
    if (!handover) return run();
    this.handovers.set(requestId, handover);
    try {
      return await run();
    } finally {
      this.handovers.delete(requestId);
    }
  }

  async postStatus(dest: JobDestination, view: StatusView): Promise<MessageRef> {
    const body = statusBody(view);
    const handover = dest.requestMessageId ? this.handovers.get(dest.requestMessageId) : undefined;
    const live = handover && 'reply' in handover ? handover.reply : undefined;
    if (live && live.expiresAt > this.deps.clock.now()) {
      // One reply is one job's status: a second job of the same request gets a message of its own.
      this.handovers.delete(dest.requestMessageId!);
      try {
        const message = (await this.deps.rest.patch(
          Routes.webhookMessage(live.applicationId, live.token, '@original'),
          { body, auth: false },
        )) as APIMessage;
        live.usedAsStatus = true;
        this.tokens.set(message.id, live);
        return { platform: 'discord', chatId: message.channel_id, messageId: message.id };
      } catch (error) {
        this.deps.logger.warn(
          { jobId: view.jobId, err: describe(error) },
          'could not turn the interaction reply into the status; posting it in the channel',
        );
      }
    }
    const replyTo = handover && 'replyTo' in handover ? handover.replyTo : undefined;
    const message = await this.post(dest.chatId, {
      ...body,
      // A per-call nonce: a transport retry of this very request is folded into one message, a later re-post is not.
      nonce: randomBytes(9).toString('base64url'),
      enforce_nonce: true,
      ...(replyTo ? { message_reference: { message_id: replyTo, fail_if_not_exists: false } } : {}),
    });
    return { platform: 'discord', chatId: message.channel_id, messageId: message.id };
  }

  async editStatus(ref: MessageRef, view: StatusView): Promise<boolean> {
    const body = statusBody(view);
    const live = this.tokens.get(ref.messageId);
    if (live && live.expiresAt > this.deps.clock.now()) {
      try {
        await this.deps.rest.patch(Routes.webhookMessage(live.applicationId, live.token, ref.messageId), {
          body,
          auth: false,
        });
        if (view.final) this.tokens.delete(ref.messageId);
        return true;
      } catch (error) {
        if (isCode(error, UNKNOWN_MESSAGE)) {
          this.tokens.delete(ref.messageId);
          return false;
        }
        if (!isExpiredToken(error)) throw wrapTransient(error);
        this.deps.logger.info(
          { jobId: view.jobId },
          'interaction token expired; editing the status through the channel from now on',
        );
      }
    }
    this.tokens.delete(ref.messageId);
    try {
      await this.deps.rest.patch(Routes.channelMessage(ref.chatId, ref.messageId), { body });
      return true;
    } catch (error) {
      // Deleted, or not ours to edit any more (no access, an old message's edit cap): the engine posts a fresh one.
      if (
        error instanceof DiscordAPIError &&
        (GONE_CODES.has(Number(error.code)) || error.status === 403 || error.status === 404)
      ) {
        this.deps.logger.info({ jobId: view.jobId, code: error.code }, 'status message gone; a new one will be posted');
        return false;
      }
      throw wrapTransient(error);
    }
  }

  async deliver(dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }> {
    const locale = dest.locale;
    const limit = dest.uploadLimitBytes ?? DEFAULT_UPLOAD_LIMIT_BYTES;
    const base = {
      // Only the requester is pinged, whatever their prompt (echoed in `text`) contains.
      allowed_mentions: { parse: [], users: [dest.userId] },
      components: [
        row(
          button(CUSTOM_ID.retry(delivery.jobId), say('retry', locale), ButtonStyle.Primary),
          ...followupButtons(delivery, locale),
        ),
      ],
      enforce_nonce: true,
    };
    const greeting = `<@${dest.userId}> ${escapeForDiscord(delivery.text)}`;
    if (delivery.media.bytes > 0 && delivery.media.bytes <= limit) {
      const data = await readAll(delivery);
      const ext = delivery.media.contentType === 'video/webm' ? 'webm' : 'mp4';
      try {
        const message = await this.post(
          dest.chatId,
          { ...base, content: clip(greeting, MAX_CONTENT), nonce: stableNonce('video', delivery.jobId) },
          [{ name: `${delivery.jobId}.${ext}`, data, contentType: delivery.media.contentType }],
        );
        return { ref: `${message.channel_id}/${message.id}` };
      } catch (error) {
        if (!(error instanceof DiscordAPIError && (error.status === 413 || Number(error.code) === ENTITY_TOO_LARGE)))
          throw wrapTransient(error);
        this.deps.logger.info(
          { jobId: delivery.jobId, bytes: delivery.media.bytes },
          'Discord refused the upload as too large; posting a link instead',
        );
      }
    }
    const link = say('too_big_link', locale, { url: delivery.media.url });
    const message = await this.post(dest.chatId, {
      ...base,
      content: clip(`${greeting}\n${link}`, MAX_CONTENT),
      nonce: stableNonce('link', delivery.jobId),
    });
    return { ref: `${message.channel_id}/${message.id}` };
  }

  async notify(dest: JobDestination, text: string): Promise<void> {
    const pinged = dest.mentionUserIds ?? [dest.userId];
    await this.post(dest.chatId, {
      content: clip(`${pinged.map((id) => `<@${id}> `).join('')}${escapeForDiscord(text)}`, MAX_CONTENT),
      allowed_mentions: { parse: [], users: [...pinged] },
      nonce: stableNonce('notify', `${dest.chatId}:${pinged.join(',')}:${text}`),
      enforce_nonce: true,
    });
  }

  private async post(channelId: string, body: object, files?: RawFile[]): Promise<APIMessage> {
    try {
      return (await this.deps.rest.post(Routes.channelMessages(channelId), {
        body,
        ...(files ? { files } : {}),
      })) as APIMessage;
    } catch (error) {
      throw error instanceof DiscordAPIError && (error.status === 413 || Number(error.code) === ENTITY_TOO_LARGE)
        ? error
        : wrapTransient(error);
    }
  }
}

// ------------------------------------------------------------------ helpers

function statusBody(view: StatusView) {
  return {
    content: clip(escapeForDiscord(view.text), MAX_CONTENT),
    components: view.cancellable
      ? [row(button(CUSTOM_ID.cancel(view.jobId), say('cancel', view.locale), ButtonStyle.Secondary))]
      : [],
    // The status quotes the prompt: it must never ping anyone.
    allowed_mentions: { parse: [] },
  };
}

const UNKNOWN_MESSAGE = 10008;
const ENTITY_TOO_LARGE = 40005;
const INVALID_WEBHOOK_TOKEN = 50027;
/** Unknown channel / message, missing access / permissions, cannot edit, old message edit cap. */
const GONE_CODES = new Set([10003, UNKNOWN_MESSAGE, 50001, 50005, 50013, 30046]);

function isCode(error: unknown, code: number): boolean {
  return error instanceof DiscordAPIError && Number(error.code) === code;
}

function isExpiredToken(error: unknown): boolean {
  return error instanceof DiscordAPIError && (Number(error.code) === INVALID_WEBHOOK_TOKEN || error.status === 401);
}

/**
 * Discord being briefly unavailable (5xx after discord.js's own retries, timeouts, resets, a rate limit it was
 * told not to wait out) is a transient delivery problem: as a `MediaError('network')` the engine retries it with
 * backoff. Everything else (a 4xx) is passed on as is.
 */
function wrapTransient(error: unknown): unknown {
  if (error instanceof DiscordAPIError) return error;
  if (
    error instanceof HTTPError ||
    error instanceof RateLimitError ||
    (error instanceof Error &&
      /abort|timeout|ECONNRESET|ECONNREFUSED|fetch failed|socket/i.test(`${error.name} ${error.message}`))
  ) {
    return new MediaError('network', `Discord did not answer: ${error.message}`, { cause: error });
  }
  return error;
}

function describe(error: unknown): unknown {
  return error instanceof DiscordAPIError ? { status: error.status, code: error.code, message: error.message } : error;
}

/** Same job, same nonce: across discord.js retries, engine retries and restarts (Discord keeps nonces a few minutes). */
function stableNonce(kind: string, key: string): string {
  return createHash('sha256').update(`${kind}:${key}`).digest('base64url').slice(0, 25);
}

/** Discord refuses a button label longer than this (a translation with a price may come close). */
const MAX_BUTTON_LABEL = 80;

function button(
  customId: string,
  label: string,
  style: ButtonStyle.Primary | ButtonStyle.Secondary,
): APIButtonComponent {
  return { type: ComponentType.Button, style, label: label.slice(0, MAX_BUTTON_LABEL), custom_id: customId };
}

/** The text input of the Extend modal (its custom_id is the Extend button's). */
export const EXTEND_PROMPT_FIELD = 'prompt';

/** Asks for Extend's prompt: one paragraph input, as long as a prompt may be. */
export function extendModal(jobId: string, locale: string | null | undefined): APIModalInteractionResponseCallbackData {
  return {
    custom_id: CUSTOM_ID.extend(jobId),
    title: say('extend', locale),
    components: [
      {
        type: ComponentType.ActionRow,
        components: [
          {
            type: ComponentType.TextInput,
            custom_id: EXTEND_PROMPT_FIELD,
            label: say('extend_prompt_label', locale),
            style: TextInputStyle.Paragraph,
            required: true,
            max_length: 2000,
          },
        ],
      },
    ],
  };
}

/** Upscale and Extend under a delivered clip, where its model offers them (at most 4 with Retry: a row holds 5). */
function followupButtons(delivery: ResultDelivery, locale: Parameters<typeof say>[1]): APIButtonComponent[] {
  const offer = delivery.followups;
  if (!offer) return [];
  return [
    ...offer.upscaleTo
      .slice(0, 3)
      .map(({ resolution, price }) =>
        button(
          CUSTOM_ID.upscale(delivery.jobId, resolution),
          say('upscale', locale, { resolution: resolution.toUpperCase(), price: String(price) }),
          ButtonStyle.Secondary,
        ),
      ),
    ...(offer.extend
      ? [
          button(
            CUSTOM_ID.extend(delivery.jobId),
            say('extend_priced', locale, { price: String(offer.extend.price) }),
            ButtonStyle.Secondary,
          ),
        ]
      : []),
  ];
}

function row(...components: APIButtonComponent[]): APIActionRowComponent<APIButtonComponent> {
  return { type: ComponentType.ActionRow, components };
}

/**
 * The whole file in memory (it is under the upload limit): a stream could not be sent again when discord.js
 * retries the request.
 */
async function readAll(delivery: ResultDelivery): Promise<Buffer> {
  if (delivery.localPath) return fs.readFile(delivery.localPath);
  const chunks: Buffer[] = [];
  for await (const chunk of await delivery.openRead())
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks);
}
