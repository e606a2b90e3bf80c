import { InputFile, type Api } from 'grammy';
import type { InlineKeyboardMarkup, User } from 'grammy/types';
import { localeOf, t, type Locale } from '../../../commands/i18n.js';
import { jobActionData } from '../../../commands/job-actions.js';
import type { Offer } from '../../../commands/types.js';
import { clip } from '../../clip.js';
import { MediaError } from '../../core/errors.js';
import type { ChatPlatform, JobDestination, Logger, MessageRef, ResultDelivery, StatusView } from '../../core/ports.js';
import { describeTelegramError, isMessageGone, isNotModified } from './telegram-errors.js';

/**
 * Telegram as the engine's `ChatPlatform`: status messages with an inline Cancel button, edited in place;
 * results uploaded with `sendVideo` (or linked when too large); failures told with a mention.
 */

/** Bots may upload files up to 50 MB with the public Bot API. */
export const TELEGRAM_UPLOAD_LIMIT_BYTES = 50 * 1024 * 1024;
const TEXT_LIMIT = 4096;
const CAPTION_TEXT = 900;
/** Types Telegram plays inline as a video; anything else is linked. */
const PLAYABLE = new Set(['video/mp4', 'video/quicktime', 'video/x-m4v']);
const MAX_REMEMBERED = 10_000;

/**
 * Names of users seen recently, for mentions on messages the engine sends later (the engine's destination knows
 * only the user id). Bounded; after a restart a mention shows 👤 until the member is seen again.
 */
export class RecentUsers {
  private readonly names = new Map<string, string>();

  remember(user: User): void {
    const id = String(user.id);
    this.names.delete(id);
    this.names.set(id, displayNameOf(user));
    if (this.names.size > MAX_REMEMBERED) this.names.delete(this.names.keys().next().value!);
  }

  nameOf(userId: string): string | undefined {
    return this.names.get(userId);
  }
}

export function displayNameOf(user: User): string {
  const name = [user.first_name, user.last_name].filter(Boolean).join(' ').trim();
  return (name || user.username || String(user.id)).slice(0, 64);
}

export function cancelKeyboard(jobId: string, locale: Locale): InlineKeyboardMarkup {
  return { inline_keyboard: [[{ text: t('cancel', locale), callback_data: jobActionData('cancel', jobId) }]] };
}

export function retryKeyboard(
  jobId: string,
  locale: Locale,
  followups?: ResultDelivery['followups'],
): InlineKeyboardMarkup {
  const retry = { text: t('retry', locale), callback_data: jobActionData('retry', jobId) };
  if (!followups || (followups.upscaleTo.length === 0 && !followups.extend)) return { inline_keyboard: [[retry]] };
  // Upscale and Extend, where the clip's model offers them, on a row of their own.
  const more = [
    ...followups.upscaleTo.map(({ resolution, price }) => ({
      text: t('upscale', locale, { resolution: resolution.toUpperCase(), price: String(price) }),
      callback_data: jobActionData('upscale', jobId, resolution),
    })),
    ...(followups.extend
      ? [
          {
            text: t('extend_priced', locale, { price: String(followups.extend.price) }),
            callback_data: jobActionData('extend', jobId),
          },
        ]
      : []),
  ];
  return { inline_keyboard: [[retry], more] };
}

/** An offer's buttons (a quote's Confirm and Cancel); no buttons removes the keyboard. */
export function offerKeyboard(offer: Offer): InlineKeyboardMarkup {
  return {
    inline_keyboard: offer.buttons.length ? [offer.buttons.map((b) => ({ text: b.label, callback_data: b.data }))] : [],
  };
}

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Echoed text (a prompt, a reason) must notify nobody: in a group, "@name" in a bot's message pings that member. A
 * word joiner after the @ keeps it readable but no longer a mention. Our own mentions are text links, added after.
 */
export function unmentionable(text: string): string {
  return text.replace(/@(?=\w)/g, '@\u2060');
}

/** Answers in the request's thread; still posts if the request was deleted meanwhile. */
export function replyTo(messageId: string | number | null | undefined) {
  return messageId ? { reply_parameters: { message_id: Number(messageId), allow_sending_without_reply: true } } : {};
}

export interface TelegramChatDeps {
  api: Api;
  token: string;
  logger: Logger;
  users: RecentUsers;
  /** Largest video uploaded rather than linked. Default 50 MB, the public Bot API's; a local Bot API server takes 2000 MB. */
  uploadLimitBytes?: number;
}

export function createTelegramChat({
  api,
  token,
  logger,
  users,
  uploadLimitBytes = TELEGRAM_UPLOAD_LIMIT_BYTES,
}: TelegramChatDeps): ChatPlatform {
  // What each status message shows now, so identical edits are never sent (bounded; final views are forgotten).
  const shown = new Map<string, { text: string; cancellable: boolean }>();
  // Jobs whose upload failed in this process: an upload may have reached the chat even when its answer was lost,
  // so any further attempt for the job sends a link instead of a second video.
  const uploadTried = new Set<string>();

  const show = (key: string, view: StatusView, text: string) => {
    shown.delete(key);
    if (view.final) return;
    shown.set(key, { text, cancellable: view.cancellable });
    if (shown.size > MAX_REMEMBERED) shown.delete(shown.keys().next().value!);
  };

  const mentionOf = (dest: JobDestination): string => {
    // In a private chat the reply itself notifies; in a group the requester (or the owners) are named to get a ping.
    if (Number(dest.chatId) > 0) return '';
    const pinged = dest.mentionUserIds ?? [dest.userId];
    return pinged
      .map((id) => `<a href="tg://user?id=${Number(id)}">${escapeHtml(users.nameOf(id) ?? '👤')}</a> `)
      .join('');
  };

  return {
    id: 'telegram',

    async postStatus(dest: JobDestination, view: StatusView): Promise<MessageRef> {
      const text = clip(unmentionable(view.text), TEXT_LIMIT);
      const markup = view.cancellable ? { reply_markup: cancelKeyboard(view.jobId, localeOf(view.locale)) } : {};
      const sent = await api.sendMessage(Number(dest.chatId), text, {
        ...markup,
        ...replyTo(dest.requestMessageId),
        link_preview_options: { is_disabled: true },
      });
      const ref: MessageRef = {
        platform: 'telegram',
        chatId: String(sent.chat.id),
        messageId: String(sent.message_id),
      };
      show(`${ref.chatId}:${ref.messageId}`, view, text);
      return ref;
    },

    async editStatus(ref: MessageRef, view: StatusView): Promise<boolean> {
      const key = `${ref.chatId}:${ref.messageId}`;
      const text = clip(unmentionable(view.text), TEXT_LIMIT);
      const last = shown.get(key);
      if (last && last.text === text && last.cancellable === view.cancellable) return true;
      // Leaving reply_markup out of an edit removes the keyboard: that is how Cancel goes away.
      const markup = view.cancellable ? { reply_markup: cancelKeyboard(view.jobId, localeOf(view.locale)) } : {};
      try {
        if (last && last.text === text)
          await api.editMessageReplyMarkup(Number(ref.chatId), Number(ref.messageId), markup);
        else
          await api.editMessageText(Number(ref.chatId), Number(ref.messageId), text, {
            ...markup,
            link_preview_options: { is_disabled: true },
          });
      } catch (error) {
        // Someone (a restart, another edit) already made it say this: nothing to do.
        if (isNotModified(error)) {
          show(key, view, text);
          return true;
        }
        if (isMessageGone(error)) {
          shown.delete(key);
          return false;
        }
        throw error;
      }
      show(key, view, text);
      return true;
    },

    async deliver(dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }> {
      const chatId = Number(dest.chatId);
      const { jobId, media } = delivery;
      const limit = Math.min(dest.uploadLimitBytes ?? uploadLimitBytes, uploadLimitBytes);
      const keyboard = { reply_markup: retryKeyboard(jobId, localeOf(dest.locale), delivery.followups) };
      const mention = mentionOf(dest);
      const fits = media.bytes > 0 && media.bytes <= limit && PLAYABLE.has(media.contentType);
      if (fits && !uploadTried.has(jobId)) {
        uploadTried.add(jobId);
        if (uploadTried.size > MAX_REMEMBERED) uploadTried.delete(uploadTried.values().next().value!);
        void api.sendChatAction(chatId, 'upload_video').catch(() => {});
        try {
          // A supplier, so auto-retry (a 429) can read the file again; of the stream's chunks, because grammY
          // fetches anything with a `url` property as a remote file and an HTTP response (the S3 store's) has one.
          // Not the local path: the store's stream reads in large chunks, which grammY passes on much faster.
          const file = new InputFile(async () => (await delivery.openRead())[Symbol.asyncIterator](), `${jobId}.mp4`);
          const sent = await api.sendVideo(chatId, file, {
            caption: `${mention}${escapeHtml(clip(unmentionable(delivery.text), CAPTION_TEXT))}`,
            parse_mode: 'HTML',
            supports_streaming: true,
            ...keyboard,
            ...replyTo(dest.requestMessageId),
          });
          uploadTried.delete(jobId);
          return { ref: `${sent.chat.id}:${sent.message_id}` };
        } catch (error) {
          logger.warn(
            { jobId, error: describeTelegramError(error, token) },
            'video upload failed; sending a link instead (never a second upload)',
          );
        }
      }
      const size = `${(media.bytes / 1024 / 1024).toFixed(1)} MB`;
      const why = media.bytes > limit ? `\nToo large to upload here (${size}); download it:` : '\nDownload it:';
      const text = `${mention}${escapeHtml(clip(unmentionable(delivery.text), 3000))}${why}\n${escapeHtml(media.url)}`;
      try {
        const sent = await api.sendMessage(chatId, text, {
          parse_mode: 'HTML',
          ...keyboard,
          ...replyTo(dest.requestMessageId),
        });
        uploadTried.delete(jobId);
        return { ref: `${sent.chat.id}:${sent.message_id}` };
      } catch (error) {
        const reason = describeTelegramError(error, token);
        throw new MediaError(
          'network',
          `Telegram did not take the result (${String(reason['description'] ?? reason['message'])})`,
        );
      }
    },

    async notify(dest: JobDestination, text: string): Promise<void> {
      await api.sendMessage(Number(dest.chatId), `${mentionOf(dest)}${escapeHtml(clip(unmentionable(text), 3500))}`, {
        parse_mode: 'HTML',
        ...replyTo(dest.requestMessageId),
        link_preview_options: { is_disabled: true },
      });
    },
  };
}
