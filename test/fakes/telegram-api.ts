import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { InlineKeyboardMarkup, Message, StarTransaction, Update } from 'grammy/types';

/**
 * A fake Telegram Bot API on 127.0.0.1 (any free port) that the real grammY `Bot` talks to through
 * `client.apiRoot` (TELEGRAM_API_ROOT). It keeps what Telegram would keep (messages, files, chat members,
 * commands, the webhook) and records every call, so tests read what the bot really sent.
 *
 * What it does as Telegram does (platforms.md §1–2):
 * - every call is `POST /bot<token>/<method>`, JSON or multipart; a wrong token is 401 "Unauthorized";
 * - `getUpdates` is real long polling: held open until an update arrives or its `timeout` runs out; `offset`
 *   confirms updates; a second poll while one is held ends the held one with 409 Conflict (one poller per token);
 *   while a webhook is set it is 409, and updates are POSTed to the webhook instead;
 * - `editMessageText` / `editMessageReplyMarkup` with nothing changed is 400 "message is not modified";
 *   an edit of a deleted message is 400 "message to edit not found";
 * - grammY's multipart (non-canonical `content-disposition:form-data;name="x";filename=y` headers) is parsed by
 *   hand; `attach://<id>` fields are resolved to their file parts; uploads over 50 MB are 413;
 * - `getFile` refuses files over 20 MB ("file is too big"); files download from `/file/bot<token>/<path>`,
 *   or, after `stallDownloads()`, send their first byte and hold the rest (a slow link);
 * - payments in Telegram Stars as the Bot API documents them: `sendInvoice` is validated (title 1-32 characters,
 *   description 1-255, payload 1-128 bytes, a known currency, `prices` a non-empty array of LabeledPrice; XTR takes
 *   exactly one price and an empty or omitted provider_token); a test then delivers a `pre_checkout_query`, whose
 *   answer (answerPreCheckoutQuery) must come within 10 s and is recorded, and a message with `successful_payment`
 *   (`payInvoice` does both, as Telegram does: the payment only after an ok answer). Error descriptions follow
 *   Telegram's style; their exact wording for invoices is not documented; every Stars payment is also kept as the
 *   bot's Star transaction (`getStarTransactions`, oldest first, `offset`/`limit`), its id the payment's charge id;
 *   `refundStarPayment(user_id, telegram_payment_charge_id)` refunds a Stars payment of that user once (400
 *   CHARGE_NOT_FOUND for a charge this bot never received from that user, CHARGE_ALREADY_REFUNDED the second time),
 *   records it in `starRefunds`, and adds the outgoing transaction with the payment's id that Telegram lists;
 * - `allowed_updates` (getUpdates, setWebhook) is remembered as Telegram does: a type left out is never delivered;
 * - faults on demand: any error answer (429 with `parameters.retry_after`, 500, ...) or a dropped connection
 *   after the call was carried out (the bot cannot know whether it worked).
 */

export interface FakeUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

export interface FakeChat {
  id: number;
  type: 'private' | 'group' | 'supergroup';
  title?: string | undefined;
  first_name?: string | undefined;
}

export type MemberStatus = 'creator' | 'administrator' | 'member' | 'restricted' | 'left' | 'kicked';

export interface UploadedFile {
  filename: string;
  bytes: Buffer;
}

export interface RecordedCall {
  method: string;
  /** The JSON body, or the multipart fields (JSON objects among them parsed). */
  params: Record<string, unknown>;
  /** Multipart file parts by the field that referenced them (`video` for sendVideo), `attach://` resolved. */
  files: Record<string, UploadedFile>;
  multipart: boolean;
  /** When the request arrived (ms since epoch). */
  at: number;
  /** HTTP status answered; 0 when the connection was dropped or never answered. */
  status: number;
  /** The `description` of an error answer. */
  error?: string;
}

export interface StoredMessage {
  chatId: number;
  messageId: number;
  /** Sent by the bot (else by a user the test made up). */
  fromBot: boolean;
  from: FakeUser;
  text?: string | undefined;
  caption?: string;
  parseMode?: string;
  replyMarkup?: InlineKeyboardMarkup | undefined;
  replyTo?: number;
  video?: UploadedFile & { supportsStreaming: boolean };
  /** An invoice the bot sent, with what Telegram keeps of it (the payload is never shown to users). */
  invoice?: SentInvoice;
  deleted: boolean;
  /** When it was sent (ms since epoch; `raw.date` has whole seconds only). */
  sentAt: number;
  edits: { at: number; text: string | undefined; replyMarkup: InlineKeyboardMarkup | undefined }[];
  /** The Message object as Telegram returned it (or delivered it in an update). */
  raw: Message;
}

export interface SentInvoice {
  title: string;
  description: string;
  payload: string;
  currency: string;
  prices: { label: string; amount: number }[];
  providerToken?: string;
}

export interface CheckoutAnswer {
  ok: boolean;
  errorMessage?: string;
  /** ms after the query was delivered. */
  afterMs: number;
}

/** What a payment says it paid: the invoice's own unless a test forges it. */
export interface PaymentFields {
  currency?: string;
  totalAmount?: number;
  payload?: string;
}

export interface WebhookDelivery {
  updateId: number;
  status: number;
  /** When the bot's answer arrived (ms since epoch). */
  answeredAt: number;
  ms: number;
}

export interface FakeTelegramOptions {
  token?: string;
  botId?: number;
  botUsername?: string;
}

type Fault = { kind: 'error'; error_code: number; description: string; retry_after?: number } | { kind: 'drop' };

type Answer = { status: number; body: unknown };

interface FakeFile {
  fileId: string;
  path: string;
  bytes: Buffer;
  size: number;
}

/** Telegram's user behind anonymous group admins' messages. */
export const GROUP_ANONYMOUS_BOT: FakeUser = {
  id: 1087968824,
  is_bot: true,
  first_name: 'Group',
  username: 'GroupAnonymousBot',
};

const MAX_UPLOAD_BYTES = 50 * 1024 * 1024;
const MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024;
const MAX_BODY_BYTES = 60 * 1024 * 1024;
/** Telegram's time for answering a pre-checkout query. */
const CHECKOUT_ANSWER_MS = 10_000;
const CURRENCIES = new Set(['XTR', 'USD', 'EUR', 'GBP', 'RUB', 'UAH', 'INR', 'BRL', 'JPY', 'CNY']);
const NOT_MODIFIED =
  'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

export class FakeTelegram {
  readonly token: string;
  readonly bot: FakeUser;
  /** Every API call, in arrival order. */
  readonly calls: RecordedCall[] = [];
  /** Paths of file downloads (`/file/bot<token>/<path>` → `<path>`). */
  readonly downloads: string[] = [];
  /** Requests that carried a wrong token. */
  unauthorized = 0;
  readonly webhookDeliveries: WebhookDelivery[] = [];
  webhook: { url: string; secret?: string; allowedUpdates?: string[] } | undefined;
  /** Chats the bot left with `leaveChat`, in order. */
  readonly leftChats: number[] = [];

  private server!: http.Server;
  private port = 0;
  private nextUpdateId = 1000;
  private nextMessageId = 100;
  private nextUserId = 5000;
  private nextGroupId = 1;
  private nextCallbackId = 1;
  private nextFile = 1;
  private nextCheckout = 1;
  private nextCharge = 1;
  /** Update types the bot asked for (getUpdates / setWebhook `allowed_updates`); undefined = Telegram's default. */
  private allowedUpdates: string[] | undefined;
  private readonly checkouts = new Map<string, { deliveredAt: number; answer?: CheckoutAnswer }>();
  /** The bot's Star transactions, oldest first. */
  readonly starTransactions: StarTransaction[] = [];
  /** Payments refunded with refundStarPayment, in order. */
  readonly starRefunds: { userId: number; chargeId: string; amount: number }[] = [];
  private queue: { update: Update; force: boolean }[] = [];
  private waiters = new Set<{
    offset: number;
    limit: number;
    answer: (updates: Update[]) => void;
    end: (answer: Answer) => void;
  }>();
  private readonly messages = new Map<string, StoredMessage>();
  private readonly files = new Map<string, FakeFile>();
  private readonly members = new Map<string, MemberStatus>();
  private readonly commandSets = new Map<string, { command: string; description: string }[]>();
  private readonly faults: { method: string; fault: Fault; remaining: number }[] = [];
  private readonly callWaiters = new Set<{
    test: (call: RecordedCall) => boolean;
    resolve: (call: RecordedCall) => void;
  }>();
  private readonly sockets = new Set<Socket>();
  /** While set, file downloads send one byte and wait for this to resolve before the rest. */
  private downloadGate: Promise<void> | undefined;

  private constructor(options: FakeTelegramOptions) {
    this.token = options.token ?? '7012345678:AAHfakeTokenForTests-0123456789abcdefXYZ';
    this.bot = {
      id: options.botId ?? Number(this.token.split(':')[0]),
      is_bot: true,
      first_name: 'Clipbot',
      username: options.botUsername ?? 'clipbot_test_bot',
    };
  }

  static async start(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
    const fake = new FakeTelegram(options);
    fake.server = http.createServer((req, res) => {
      fake.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ ok: false, error_code: 500, description: `fake error: ${String(error)}` }));
      });
    });
    fake.server.on('connection', (socket) => {
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    fake.port = (fake.server.address() as AddressInfo).port;
    return fake;
  }

  /** What TELEGRAM_API_ROOT is set to (no trailing slash). */
  get apiRoot(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const waiter of this.waiters) waiter.answer([]);
    this.waiters.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------ the world: users, chats, members, files

  user(fields: Partial<Omit<FakeUser, 'id' | 'is_bot'>> = {}): FakeUser {
    const id = this.nextUserId++;
    return { id, is_bot: false, first_name: fields.first_name ?? `User${id}`, language_code: 'en', ...fields };
  }

  privateChat(user: FakeUser): FakeChat {
    return { id: user.id, type: 'private', first_name: user.first_name };
  }

  group(title = 'Video club'): FakeChat {
    return { id: -1001000000000 - this.nextGroupId++, type: 'supergroup', title };
  }

  /** What `getChatMember` answers for this user in this chat (default: member). */
  setMemberStatus(chat: FakeChat, user: FakeUser, status: MemberStatus): void {
    this.members.set(`${chat.id}:${user.id}`, status);
  }

  /** Stores a file as Telegram would hold it; `size` overrides the declared size (to fake a huge one cheaply). */
  addFile(bytes: Buffer, ext = 'png', size = bytes.length): FakeFile {
    const n = this.nextFile++;
    const file = {
      fileId: `FILE${n}-${Math.random().toString(36).slice(2, 10)}`,
      path: `photos/file_${n}.${ext}`,
      bytes,
      size,
    };
    this.files.set(file.fileId, file);
    return file;
  }

  // ------------------------------------------------------------------ updates from users

  /** A user types `text` (a command, a prompt, a mention) in `chat`. */
  sendText(
    from: FakeUser,
    chat: FakeChat,
    text: string,
    opts: { replyTo?: StoredMessage; senderChat?: FakeChat } = {},
  ): Update {
    const message = this.userMessage(from, chat, { text, entities: entitiesOf(text) }, opts);
    return this.enqueue({ update_id: this.nextUpdateId++, message } as Update);
  }

  /** A user sends a photo (as Telegram's compressed photo, or as an image file) with an optional caption. */
  sendPhoto(
    from: FakeUser,
    chat: FakeChat,
    opts: {
      bytes: Buffer;
      caption?: string;
      asDocument?: boolean;
      declaredSize?: number | null;
      size?: number;
      replyTo?: StoredMessage;
    },
  ): Update {
    const file = this.addFile(opts.bytes, 'png', opts.size);
    const declared = opts.declaredSize === null ? {} : { file_size: opts.declaredSize ?? file.size };
    const media = opts.asDocument
      ? {
          document: {
            file_id: file.fileId,
            file_unique_id: `u${file.fileId}`,
            file_name: 'image.png',
            mime_type: 'image/png',
            ...declared,
          },
        }
      : {
          photo: [
            {
              file_id: `${file.fileId}-thumb`,
              file_unique_id: `t${file.fileId}`,
              width: 16,
              height: 16,
              file_size: 100,
            },
            { file_id: file.fileId, file_unique_id: `u${file.fileId}`, width: 64, height: 64, ...declared },
          ],
        };
    const caption =
      opts.caption === undefined ? {} : { caption: opts.caption, caption_entities: entitiesOf(opts.caption) };
    const message = this.userMessage(
      from,
      chat,
      { ...media, ...caption },
      opts.replyTo ? { replyTo: opts.replyTo } : {},
    );
    return this.enqueue({ update_id: this.nextUpdateId++, message } as Update);
  }

  /** An anonymous group admin (posting as the group) types `text`. */
  sendAsAnonymousAdmin(group: FakeChat, text: string): Update {
    return this.sendText(GROUP_ANONYMOUS_BOT, group, text, { senderChat: group });
  }

  /** A user presses an inline button of `message` (the first button whose data starts with `prefix`). */
  pressButton(from: FakeUser, message: StoredMessage, prefix: string): { update: Update; callbackId: string } {
    const button = message.replyMarkup?.inline_keyboard
      .flat()
      .find((b) => 'callback_data' in b && b.callback_data.startsWith(prefix));
    if (!button || !('callback_data' in button))
      throw new Error(`message ${message.messageId} has no button "${prefix}…"`);
    const callbackId = String(this.nextCallbackId++);
    const update = this.enqueue({
      update_id: this.nextUpdateId++,
      callback_query: {
        id: callbackId,
        from,
        message: message.raw,
        chat_instance: `ci${message.chatId}`,
        data: button.callback_data,
      },
    } as Update);
    return { update, callbackId };
  }

  /**
   * A callback query with any `data`, from `message`'s chat: what a modified client can send (the Bot API warns that
   * the message need not show a button with this data).
   */
  pressWithData(from: FakeUser, message: StoredMessage, data: string): { update: Update; callbackId: string } {
    const callbackId = String(this.nextCallbackId++);
    const update = this.enqueue({
      update_id: this.nextUpdateId++,
      callback_query: { id: callbackId, from, message: message.raw, chat_instance: `ci${message.chatId}`, data },
    } as Update);
    return { update, callbackId };
  }

  /**
   * Delivers `update` again, as Telegram does when the bot's confirmation was lost (a crash before its next
   * `getUpdates`, or a webhook answer that never arrived).
   */
  redeliver(update: Update): void {
    if (this.webhook) void this.deliverToWebhook(update);
    else {
      this.queue.push({ update, force: true });
      this.wake();
    }
  }

  /** The user presses Pay on `invoice`: Telegram asks the bot first (a pre_checkout_query) and returns its id. */
  checkout(from: FakeUser, invoice: StoredMessage, fields: PaymentFields = {}): { update: Update; queryId: string } {
    const sent = invoice.invoice;
    if (!sent) throw new Error(`message ${invoice.messageId} is not an invoice`);
    const queryId = `pcq${this.nextCheckout++}`;
    this.checkouts.set(queryId, { deliveredAt: Date.now() });
    const update = this.enqueue({
      update_id: this.nextUpdateId++,
      pre_checkout_query: {
        id: queryId,
        from,
        currency: fields.currency ?? sent.currency,
        total_amount: fields.totalAmount ?? sent.prices.reduce((sum, p) => sum + p.amount, 0),
        invoice_payload: fields.payload ?? sent.payload,
      },
    } as Update);
    return { update, queryId };
  }

  /** The bot's answer to a pre-checkout query, once it came (undefined before). */
  checkoutAnswer(queryId: string): CheckoutAnswer | undefined {
    return this.checkouts.get(queryId)?.answer;
  }

  /** Resolves with the bot's answer to a pre-checkout query; rejects if none came within Telegram's 10 s. */
  async waitForCheckoutAnswer(queryId: string): Promise<CheckoutAnswer> {
    const call = await this.waitForCall(
      'answerPreCheckoutQuery',
      (c) => c.params['pre_checkout_query_id'] === queryId && c.status === 200,
      CHECKOUT_ANSWER_MS,
    );
    void call;
    return this.checkoutAnswer(queryId)!;
  }

  /**
   * A message with `successful_payment` from `from` in `chat`, as Telegram sends once the Stars were taken: with a
   * fresh `telegram_payment_charge_id` unless given (a re-delivered payment keeps its own).
   */
  deliverPayment(
    from: FakeUser,
    chat: FakeChat,
    paid: { currency: string; totalAmount: number; payload: string; chargeId?: string; updateLost?: boolean },
  ): { update: Update; chargeId: string } {
    const chargeId = paid.chargeId ?? `stxFAKE${String(this.nextCharge++).padStart(6, '0')}`;
    if (paid.currency === 'XTR' && !this.starTransactions.some((t) => t.id === chargeId)) {
      this.starTransactions.push({
        id: chargeId,
        amount: paid.totalAmount,
        date: Math.floor(Date.now() / 1000),
        source: { type: 'user', transaction_type: 'invoice_payment', user: from, invoice_payload: paid.payload },
      } as StarTransaction);
    }
    const message = this.userMessage(
      from,
      chat,
      {
        successful_payment: {
          currency: paid.currency,
          total_amount: paid.totalAmount,
          invoice_payload: paid.payload,
          telegram_payment_charge_id: chargeId,
          provider_payment_charge_id: '',
        },
      } as Partial<Message>,
      {},
    );
    const update = { update_id: this.nextUpdateId++, message } as Update;
    // `updateLost`: the bot fetched the update and confirmed it by its next getUpdates, then died before handling it.
    return { update: paid.updateLost ? update : this.enqueue(update), chargeId };
  }

  /**
   * The user pays `invoice` as Telegram runs it: a pre-checkout query, and only if the bot answers ok in time, the
   * successful_payment message in the invoice's chat.
   */
  async payInvoice(
    from: FakeUser,
    invoice: StoredMessage,
    fields: PaymentFields = {},
  ): Promise<{ answer: CheckoutAnswer; payment?: Update; chargeId?: string }> {
    const { queryId } = this.checkout(from, invoice, fields);
    const answer = await this.waitForCheckoutAnswer(queryId);
    if (!answer.ok) return { answer };
    const sent = invoice.invoice!;
    const { update, chargeId } = this.deliverPayment(from, invoice.raw.chat as FakeChat, {
      currency: fields.currency ?? sent.currency,
      totalAmount: fields.totalAmount ?? sent.prices.reduce((sum, p) => sum + p.amount, 0),
      payload: fields.payload ?? sent.payload,
    });
    return { answer, payment: update, chargeId };
  }

  /** Invoices the bot sent into `chat`, oldest first. */
  invoicesIn(chat: FakeChat): StoredMessage[] {
    return this.messagesIn(chat).filter((m) => m.invoice);
  }

  /** A user deletes one of the bot's messages. */
  deleteMessage(message: StoredMessage): void {
    message.deleted = true;
  }

  // ------------------------------------------------------------------ faults

  /** The next `times` calls of `method` get this error answer (e.g. 429 with `retry_after`). */
  failNext(method: string, error: { error_code: number; description: string; retry_after?: number }, times = 1): void {
    this.faults.push({ method, fault: { kind: 'error', ...error }, remaining: times });
  }

  rateLimitNext(method: string, retryAfterS: number, times = 1): void {
    this.failNext(
      method,
      { error_code: 429, description: `Too Many Requests: retry after ${retryAfterS}`, retry_after: retryAfterS },
      times,
    );
  }

  /** The next call of `method` is carried out, then its connection is dropped before the answer. */
  dropResponseNext(method: string): void {
    this.faults.push({ method, fault: { kind: 'drop' }, remaining: 1 });
  }

  /** File downloads from now on send their first byte, then hold the rest until `release()` (a slow link). */
  stallDownloads(): { release: () => void } {
    let release!: () => void;
    this.downloadGate = new Promise<void>((resolve) => (release = resolve));
    return {
      release: () => {
        this.downloadGate = undefined;
        release();
      },
    };
  }

  // ------------------------------------------------------------------ what the bot did

  callsTo(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Resolves with the first call (already made or still to come) matching `method` and `test`. */
  waitForCall(
    method: string,
    test: (call: RecordedCall) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<RecordedCall> {
    const match = (call: RecordedCall) => call.method === method && call.status !== 0 && test(call);
    const found = this.calls.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        test: match,
        resolve: (call: RecordedCall) => {
          clearTimeout(timer);
          resolve(call);
        },
      };
      const timer = setTimeout(() => {
        this.callWaiters.delete(waiter);
        reject(
          new Error(`no ${method} call within ${timeoutMs} ms; calls: ${this.calls.map((c) => c.method).join(', ')}`),
        );
      }, timeoutMs);
      this.callWaiters.add(waiter);
    });
  }

  /** Messages in `chat`, users' and the bot's, in order. */
  messagesIn(chat: FakeChat): StoredMessage[] {
    return [...this.messages.values()].filter((m) => m.chatId === chat.id).sort((a, b) => a.messageId - b.messageId);
  }

  /** What the bot posted in `chat` (deleted ones included, flagged). */
  botMessages(chat: FakeChat): StoredMessage[] {
    return this.messagesIn(chat).filter((m) => m.fromBot);
  }

  videosIn(chat: FakeChat): StoredMessage[] {
    return this.botMessages(chat).filter((m) => m.video);
  }

  /** The bot's messages that reply to `message` (status, errors, results). */
  repliesTo(message: Message | StoredMessage): StoredMessage[] {
    const chatId = 'chat' in message ? message.chat.id : message.chatId;
    const id = 'message_id' in message ? message.message_id : message.messageId;
    return this.botMessages({ id: chatId, type: 'private' }).filter((m) => m.replyTo === id);
  }

  /** The answers the bot gave to button presses, by callback query id. */
  callbackAnswer(callbackId: string): { text?: string; show_alert?: boolean } | undefined {
    const call = this.callsTo('answerCallbackQuery').find((c) => c.params['callback_query_id'] === callbackId);
    return call?.params as { text?: string; show_alert?: boolean } | undefined;
  }

  /** Commands registered with `setMyCommands`, by scope type (`default`, `all_chat_administrators`) and language. */
  commands(scope = 'default', languageCode = ''): { command: string; description: string }[] | undefined {
    return this.commandSets.get(`${scope}|${languageCode}`);
  }

  /** POSTs `update` to the registered webhook with a secret header (the registered one unless given; null = none). */
  async postToWebhook(update: Update, opts: { secret?: string | null } = {}): Promise<WebhookDelivery> {
    if (!this.webhook) throw new Error('no webhook is set');
    const secret = opts.secret === undefined ? this.webhook.secret : opts.secret;
    const started = Date.now();
    const status = await postJson(
      this.webhook.url,
      update,
      secret ? { 'x-telegram-bot-api-secret-token': secret } : {},
    );
    const delivery = { updateId: update.update_id, status, answeredAt: Date.now(), ms: Date.now() - started };
    this.webhookDeliveries.push(delivery);
    return delivery;
  }

  // ------------------------------------------------------------------ internals: updates

  private userMessage(
    from: FakeUser,
    chat: FakeChat,
    content: Partial<Message>,
    opts: { replyTo?: StoredMessage; senderChat?: FakeChat },
  ): Message {
    const message = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat,
      from,
      ...(opts.senderChat ? { sender_chat: opts.senderChat } : {}),
      ...(opts.replyTo ? { reply_to_message: opts.replyTo.raw } : {}),
      ...content,
    } as Message;
    this.store(message, false, from);
    return message;
  }

  private enqueue(update: Update): Update {
    if (this.webhook) {
      const asked = this.webhook.allowedUpdates;
      const type = Object.keys(update).find((k) => k !== 'update_id');
      if (asked?.length && !asked.includes(type ?? '')) return update;
      void this.deliverToWebhook(update);
      return update;
    }
    this.queue.push({ update, force: false });
    this.wake();
    return update;
  }

  private async deliverToWebhook(update: Update): Promise<void> {
    try {
      await this.postToWebhook(update);
    } catch {
      this.webhookDeliveries.push({ updateId: update.update_id, status: 0, answeredAt: Date.now(), ms: 0 });
    }
  }

  private take(offset: number, limit: number): Update[] {
    // Confirmed updates (below the offset) are forgotten, except re-deliveries the test forced; so are updates of a
    // type the bot did not ask for (Telegram never sends those).
    this.queue = this.queue.filter((q) => (q.force || q.update.update_id >= offset) && this.allowed(q.update));
    const batch = this.queue.slice(0, limit);
    for (const q of batch) q.force = false;
    return batch.map((q) => q.update);
  }

  private allowed(update: Update): boolean {
    if (!this.allowedUpdates || this.allowedUpdates.length === 0) return true;
    const type = Object.keys(update).find((k) => k !== 'update_id');
    return type !== undefined && this.allowedUpdates.includes(type);
  }

  private wake(): void {
    for (const waiter of this.waiters) {
      const updates = this.take(waiter.offset, waiter.limit);
      if (updates.length === 0) continue;
      this.waiters.delete(waiter);
      waiter.answer(updates);
      return;
    }
  }

  private getUpdates(params: Record<string, unknown>, res: http.ServerResponse): Promise<Answer> {
    if (this.webhook) {
      return Promise.resolve(
        fail(
          409,
          "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
        ),
      );
    }
    // Telegram serves one poller per token: any getUpdates ends a long poll still held with 409 Conflict (a second
    // process polling the same bot; grammY's runner stops on it).
    for (const waiter of this.waiters)
      waiter.end(
        fail(409, 'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running'),
      );
    this.waiters.clear();
    const asked = params['allowed_updates'];
    if (Array.isArray(asked)) this.allowedUpdates = asked.map(String);
    const offset = Number(params['offset'] ?? 0);
    const limit = Math.min(100, Math.max(1, Number(params['limit'] ?? 100)));
    const timeoutS = Math.max(0, Number(params['timeout'] ?? 0));
    const ready = this.take(offset, limit);
    if (ready.length > 0 || timeoutS === 0) return Promise.resolve(ok(ready));
    return new Promise((resolve) => {
      const end = (answer: Answer) => {
        clearTimeout(timer);
        resolve(answer);
      };
      const waiter = { offset, limit, end, answer: (updates: Update[]) => end(ok(updates)) };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        resolve(ok([]));
      }, timeoutS * 1000);
      timer.unref();
      this.waiters.add(waiter);
      // The bot gave up (grammY aborts the poll when it stops).
      res.on('close', () => {
        if (this.waiters.delete(waiter)) clearTimeout(timer);
      });
    });
  }

  // ------------------------------------------------------------------ internals: HTTP

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake.invalid');
    const file = /^\/file\/bot([^/]+)\/(.+)$/.exec(url.pathname);
    if (file) return this.serveFile(file[1]!, decodeURIComponent(file[2]!), res);
    const api = /^\/bot([^/]+)\/([A-Za-z]+)$/.exec(url.pathname);
    if (!api) return send(res, fail(404, 'Not Found'));
    if (decodeURIComponent(api[1]!) !== this.token) {
      this.unauthorized++;
      return send(res, fail(401, 'Unauthorized'));
    }
    const method = api[2]!;
    const body = await readBody(req, MAX_BODY_BYTES);
    if (!body) return send(res, fail(413, 'Request Entity Too Large'));
    const contentType = req.headers['content-type'] ?? '';
    const call: RecordedCall = { method, params: {}, files: {}, multipart: false, at: Date.now(), status: 0 };
    this.calls.push(call);
    try {
      if (contentType.startsWith('multipart/form-data')) {
        const boundary = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
        if (!boundary) return this.answer(res, call, fail(400, 'Bad Request: multipart boundary missing'));
        const parsed = parseMultipart(body, boundary[1] ?? boundary[2]!);
        call.multipart = true;
        call.params = parsed.fields;
        call.files = parsed.files;
      } else if (body.length > 0) {
        call.params = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
      }
    } catch (error) {
      return this.answer(res, call, fail(400, `Bad Request: can't parse request: ${String(error)}`));
    }

    const i = this.faults.findIndex((f) => f.method === method);
    const fault = i >= 0 ? this.faults[i]!.fault : undefined;
    if (i >= 0 && --this.faults[i]!.remaining <= 0) this.faults.splice(i, 1);
    if (fault?.kind === 'error') {
      const params = fault.retry_after !== undefined ? { retry_after: fault.retry_after } : undefined;
      return this.answer(res, call, fail(fault.error_code, fault.description, params));
    }
    const answer = await this.dispatch(method, call, res);
    if (fault?.kind === 'drop') {
      this.notifyCall(call);
      req.socket.destroy();
      return;
    }
    this.answer(res, call, answer);
  }

  private answer(res: http.ServerResponse, call: RecordedCall, answer: Answer): void {
    call.status = answer.status;
    const body = answer.body as { ok: boolean; description?: string };
    if (!body.ok && body.description) call.error = body.description;
    send(res, answer);
    this.notifyCall(call);
  }

  private notifyCall(call: RecordedCall): void {
    if (call.status === 0) call.status = -1;
    for (const waiter of this.callWaiters) {
      if (waiter.test(call)) {
        this.callWaiters.delete(waiter);
        waiter.resolve(call);
      }
    }
  }

  private serveFile(token: string, path: string, res: http.ServerResponse): void {
    if (decodeURIComponent(token) !== this.token) {
      this.unauthorized++;
      res.writeHead(401).end();
      return;
    }
    this.downloads.push(path);
    const file = [...this.files.values()].find((f) => f.path === path);
    if (!file) {
      res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(JSON.stringify({ ok: false, error_code: 404, description: 'Not Found' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(file.bytes.length) });
    const gate = this.downloadGate;
    if (!gate) return void res.end(file.bytes);
    res.write(file.bytes.subarray(0, 1));
    void gate.then(() => !res.destroyed && res.end(file.bytes.subarray(1)));
  }

  private async dispatch(method: string, call: RecordedCall, res: http.ServerResponse): Promise<Answer> {
    const p = call.params;
    switch (method) {
      case 'getMe':
        return ok({
          ...this.bot,
          can_join_groups: true,
          can_read_all_group_messages: false,
          supports_inline_queries: false,
        });
      case 'getUpdates':
        return this.getUpdates(p, res);
      case 'deleteWebhook':
        this.webhook = undefined;
        if (p['drop_pending_updates']) this.queue = [];
        return ok(true);
      case 'setWebhook': {
        const secret = p['secret_token'] as string | undefined;
        if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret))
          return fail(400, 'Bad Request: secret token contains unallowed characters');
        this.webhook = {
          url: String(p['url']),
          ...(secret ? { secret } : {}),
          ...(p['allowed_updates'] ? { allowedUpdates: p['allowed_updates'] as string[] } : {}),
        };
        return ok(true);
      }
      case 'getWebhookInfo':
        return ok({
          url: this.webhook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: this.queue.length,
        });
      case 'setMyCommands': {
        const scope = (p['scope'] as { type?: string } | undefined)?.type ?? 'default';
        const commands = p['commands'] as { command: string; description: string }[];
        for (const c of commands) {
          if (!/^[a-z0-9_]{1,32}$/.test(c.command)) return fail(400, 'Bad Request: BOT_COMMAND_INVALID');
          if (c.description.length < 1 || c.description.length > 256)
            return fail(400, 'Bad Request: BOT_COMMAND_DESCRIPTION_INVALID');
        }
        this.commandSets.set(`${scope}|${(p['language_code'] as string | undefined) ?? ''}`, commands);
        return ok(true);
      }
      case 'sendMessage':
        return this.sendMessage(p);
      case 'sendVideo':
        return this.sendVideo(p, call.files);
      case 'editMessageText':
        return this.edit(p, true);
      case 'editMessageReplyMarkup':
        return this.edit(p, false);
      case 'deleteMessage': {
        const message = this.messages.get(`${p['chat_id']}:${p['message_id']}`);
        if (!message || message.deleted) return fail(400, 'Bad Request: message to delete not found');
        message.deleted = true;
        return ok(true);
      }
      case 'sendChatAction':
        return ok(true);
      case 'leaveChat': {
        const id = Number(p['chat_id']);
        if (id > 0) return fail(400, "Bad Request: chat member status can't be changed in private chats");
        if (this.leftChats.includes(id)) return fail(403, 'Forbidden: bot is not a member of the supergroup chat');
        this.leftChats.push(id);
        return ok(true);
      }
      case 'answerCallbackQuery':
        return ok(true);
      case 'sendInvoice':
        return this.sendInvoice(p);
      case 'answerPreCheckoutQuery':
        return this.answerPreCheckoutQuery(p);
      case 'getStarTransactions': {
        const offset = Number(p['offset'] ?? 0);
        const limit = Number(p['limit'] ?? 100);
        if (!Number.isInteger(offset) || offset < 0 || !Number.isInteger(limit) || limit < 1 || limit > 100)
          return fail(400, 'Bad Request: LIMIT_INVALID');
        return ok({ transactions: this.starTransactions.slice(offset, offset + limit) });
      }
      case 'refundStarPayment':
        return this.refundStarPayment(p);
      case 'getFile': {
        const file = this.files.get(String(p['file_id']));
        if (!file) return fail(400, 'Bad Request: invalid file_id');
        if (file.size > MAX_DOWNLOAD_BYTES) return fail(400, 'Bad Request: file is too big');
        return ok({
          file_id: file.fileId,
          file_unique_id: `u${file.fileId}`,
          file_size: file.size,
          file_path: file.path,
        });
      }
      case 'getChatMember': {
        const userId = Number(p['user_id']);
        const status = this.members.get(`${p['chat_id']}:${userId}`) ?? 'member';
        const user = { id: userId, is_bot: false, first_name: `User${userId}` };
        return ok(
          status === 'administrator' ? { status, user, can_be_edited: false, is_anonymous: false } : { status, user },
        );
      }
      default:
        return fail(404, 'Not Found: method not found');
    }
  }

  private refundStarPayment(p: Record<string, unknown>): Answer {
    const userId = Number(p['user_id']);
    const chargeId = p['telegram_payment_charge_id'];
    if (!Number.isInteger(userId) || userId <= 0) return fail(400, 'Bad Request: USER_ID_INVALID');
    if (typeof chargeId !== 'string' || chargeId === '')
      return fail(400, 'Bad Request: parameter "telegram_payment_charge_id" is required');
    const payment = this.starTransactions.find(
      (t) => t.id === chargeId && t.source?.type === 'user' && t.source.transaction_type === 'invoice_payment',
    );
    if (!payment || (payment.source as { user: FakeUser }).user.id !== userId)
      return fail(400, 'Bad Request: CHARGE_NOT_FOUND');
    if (this.starRefunds.some((r) => r.chargeId === chargeId)) return fail(400, 'Bad Request: CHARGE_ALREADY_REFUNDED');
    this.starRefunds.push({ userId, chargeId, amount: payment.amount });
    // Telegram lists a refund as an outgoing transaction with the refunded payment's id.
    this.starTransactions.push({
      id: chargeId,
      amount: payment.amount,
      date: Math.floor(Date.now() / 1000),
      receiver: {
        type: 'user',
        transaction_type: 'invoice_payment',
        user: (payment.source as { user: FakeUser }).user,
      },
    } as StarTransaction);
    return ok(true);
  }

  private chatOf(chatId: unknown): Answer | { chat: FakeChat } {
    const id = Number(chatId);
    if (!Number.isFinite(id) || id === 0) return fail(400, 'Bad Request: chat not found');
    const known = [...this.messages.values()].find((m) => m.chatId === id)?.raw.chat;
    const chat = (known ??
      (id > 0
        ? { id, type: 'private', first_name: `User${id}` }
        : { id, type: 'supergroup', title: 'Group' })) as FakeChat;
    return { chat };
  }

  private replyTarget(chatId: number, p: Record<string, unknown>): Answer | { replyTo?: StoredMessage } {
    const params = p['reply_parameters'] as { message_id?: number; allow_sending_without_reply?: boolean } | undefined;
    if (!params?.message_id) return {};
    const target = this.messages.get(`${chatId}:${params.message_id}`);
    if (!target || target.deleted)
      return params.allow_sending_without_reply ? {} : fail(400, 'Bad Request: message to be replied not found');
    return { replyTo: target };
  }

  private sendMessage(p: Record<string, unknown>): Answer {
    const where = this.chatOf(p['chat_id']);
    if ('status' in where) return where;
    if (this.leftChats.includes(where.chat.id))
      return fail(403, 'Forbidden: bot is not a member of the supergroup chat');
    const text = typeof p['text'] === 'string' ? p['text'] : '';
    if (text.trim() === '') return fail(400, 'Bad Request: message text is empty');
    if (visibleLength(text, p['parse_mode']) > 4096) return fail(400, 'Bad Request: message is too long');
    const reply = this.replyTarget(where.chat.id, p);
    if ('status' in reply) return reply;
    const markup = normalizeMarkup(p['reply_markup']);
    const raw = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: where.chat,
      from: this.bot,
      text,
      ...(markup ? { reply_markup: markup } : {}),
      ...(reply.replyTo ? { reply_to_message: reply.replyTo.raw } : {}),
    } as Message;
    const stored = this.store(raw, true, this.bot);
    if (typeof p['parse_mode'] === 'string') stored.parseMode = p['parse_mode'];
    return ok(raw);
  }

  private sendVideo(p: Record<string, unknown>, files: Record<string, UploadedFile>): Answer {
    const where = this.chatOf(p['chat_id']);
    if ('status' in where) return where;
    const video = files['video'];
    if (!video) return fail(400, 'Bad Request: there is no video in the request');
    if (video.bytes.length > MAX_UPLOAD_BYTES) return fail(413, 'Request Entity Too Large');
    const caption = typeof p['caption'] === 'string' ? p['caption'] : undefined;
    if (caption && visibleLength(caption, p['parse_mode']) > 1024)
      return fail(400, 'Bad Request: message caption is too long');
    const reply = this.replyTarget(where.chat.id, p);
    if ('status' in reply) return reply;
    const markup = normalizeMarkup(p['reply_markup']);
    const fileId = `VIDEO${this.nextFile++}`;
    const raw = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: where.chat,
      from: this.bot,
      video: {
        file_id: fileId,
        file_unique_id: `u${fileId}`,
        width: 640,
        height: 480,
        duration: 5,
        mime_type: 'video/mp4',
        file_size: video.bytes.length,
      },
      ...(caption ? { caption } : {}),
      ...(markup ? { reply_markup: markup } : {}),
      ...(reply.replyTo ? { reply_to_message: reply.replyTo.raw } : {}),
    } as Message;
    const stored = this.store(raw, true, this.bot);
    stored.video = {
      ...video,
      supportsStreaming: p['supports_streaming'] === true || p['supports_streaming'] === 'true',
    };
    if (typeof p['parse_mode'] === 'string') stored.parseMode = p['parse_mode'];
    return ok(raw);
  }

  private sendInvoice(p: Record<string, unknown>): Answer {
    const where = this.chatOf(p['chat_id']);
    if ('status' in where) return where;
    const title = p['title'];
    const description = p['description'];
    const payload = p['payload'];
    const currency = p['currency'];
    const prices = p['prices'];
    const providerToken = p['provider_token'];
    if (typeof title !== 'string' || [...title].length < 1 || [...title].length > 32)
      return fail(400, 'Bad Request: INVOICE_TITLE_INVALID');
    if (typeof description !== 'string' || [...description].length < 1 || [...description].length > 255)
      return fail(400, 'Bad Request: INVOICE_DESCRIPTION_INVALID');
    if (typeof payload !== 'string' || Buffer.byteLength(payload) < 1 || Buffer.byteLength(payload) > 128)
      return fail(400, 'Bad Request: INVOICE_PAYLOAD_INVALID');
    if (typeof currency !== 'string' || !CURRENCIES.has(currency)) return fail(400, 'Bad Request: CURRENCY_INVALID');
    const labeled =
      Array.isArray(prices) &&
      prices.length > 0 &&
      prices.every((x: unknown) => {
        const price = x as { label?: unknown; amount?: unknown };
        return (
          typeof price === 'object' &&
          price !== null &&
          typeof price.label === 'string' &&
          price.label.length > 0 &&
          Number.isInteger(price.amount)
        );
      });
    if (!labeled) return fail(400, "Bad Request: can't parse prices JSON object");
    const items = prices as { label: string; amount: number }[];
    if (currency === 'XTR') {
      if (items.length !== 1)
        return fail(
          400,
          'Bad Request: STARS_INVOICE_INVALID: exactly one price is allowed for payments in Telegram Stars',
        );
      if (providerToken !== undefined && providerToken !== '')
        return fail(
          400,
          'Bad Request: PAYMENT_PROVIDER_INVALID: provider_token must be empty for payments in Telegram Stars',
        );
      if (items[0]!.amount < 1) return fail(400, 'Bad Request: CURRENCY_TOTAL_AMOUNT_INVALID');
    } else if (typeof providerToken !== 'string' || providerToken === '') {
      return fail(400, 'Bad Request: PAYMENT_PROVIDER_INVALID');
    }
    const reply = this.replyTarget(where.chat.id, p);
    if ('status' in reply) return reply;
    const total = items.reduce((sum, x) => sum + x.amount, 0);
    const raw = {
      message_id: this.nextMessageId++,
      date: Math.floor(Date.now() / 1000),
      chat: where.chat,
      from: this.bot,
      invoice: { title, description, start_parameter: '', currency, total_amount: total },
      ...(reply.replyTo ? { reply_to_message: reply.replyTo.raw } : {}),
    } as Message;
    const stored = this.store(raw, true, this.bot);
    stored.invoice = {
      title,
      description,
      payload,
      currency,
      prices: items,
      ...(typeof providerToken === 'string' ? { providerToken } : {}),
    };
    return ok(raw);
  }

  private answerPreCheckoutQuery(p: Record<string, unknown>): Answer {
    const id = String(p['pre_checkout_query_id'] ?? '');
    const query = this.checkouts.get(id);
    const afterMs = query ? Date.now() - query.deliveredAt : 0;
    if (!query || query.answer || afterMs > CHECKOUT_ANSWER_MS)
      return fail(400, 'Bad Request: query is too old and response timeout expired or query ID is invalid');
    if (typeof p['ok'] !== 'boolean') return fail(400, 'Bad Request: parameter "ok" is required');
    const message = p['error_message'];
    if (!p['ok'] && (typeof message !== 'string' || message.trim() === ''))
      return fail(400, 'Bad Request: error_message is required when ok is false');
    query.answer = {
      ok: p['ok'],
      ...(typeof message === 'string' && !p['ok'] ? { errorMessage: message } : {}),
      afterMs,
    };
    return ok(true);
  }

  private edit(p: Record<string, unknown>, withText: boolean): Answer {
    const message = this.messages.get(`${p['chat_id']}:${p['message_id']}`);
    if (!message || message.deleted) return fail(400, 'Bad Request: message to edit not found');
    if (!message.fromBot) return fail(400, "Bad Request: message can't be edited");
    const text = withText ? (typeof p['text'] === 'string' ? p['text'] : '') : message.text;
    if (withText && (text ?? '').trim() === '') return fail(400, 'Bad Request: message text is empty');
    if (withText && visibleLength(text ?? '', p['parse_mode']) > 4096)
      return fail(400, 'Bad Request: MESSAGE_TOO_LONG');
    // Telegram drops the inline keyboard when an edit does not repeat it.
    const markup = normalizeMarkup(p['reply_markup']);
    if (text === message.text && JSON.stringify(markup) === JSON.stringify(message.replyMarkup))
      return fail(400, NOT_MODIFIED);
    message.text = text;
    message.replyMarkup = markup;
    message.edits.push({ at: Date.now(), text, replyMarkup: markup });
    const raw = { ...message.raw, text, edit_date: Math.floor(Date.now() / 1000) } as Message & {
      reply_markup?: InlineKeyboardMarkup;
    };
    if (markup) raw.reply_markup = markup;
    else delete raw.reply_markup;
    message.raw = raw;
    return ok(raw);
  }

  private store(raw: Message, fromBot: boolean, from: FakeUser): StoredMessage {
    const stored: StoredMessage = {
      chatId: raw.chat.id,
      messageId: raw.message_id,
      fromBot,
      from,
      ...(raw.text !== undefined ? { text: raw.text } : {}),
      ...(raw.caption !== undefined ? { caption: raw.caption } : {}),
      ...(raw.reply_markup ? { replyMarkup: raw.reply_markup } : {}),
      ...(raw.reply_to_message ? { replyTo: raw.reply_to_message.message_id } : {}),
      deleted: false,
      sentAt: Date.now(),
      edits: [],
      raw,
    };
    this.messages.set(`${raw.chat.id}:${raw.message_id}`, stored);
    return stored;
  }
}

// ------------------------------------------------------------------ helpers

function ok(result: unknown): Answer {
  return { status: 200, body: { ok: true, result } };
}

function fail(code: number, description: string, parameters?: { retry_after?: number }): Answer {
  return { status: code, body: { ok: false, error_code: code, description, ...(parameters ? { parameters } : {}) } };
}

function send(res: http.ServerResponse, answer: Answer): void {
  if (res.destroyed) return;
  const body = JSON.stringify(answer.body);
  res.writeHead(answer.status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
  });
  res.end(body);
}

async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > max) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Entities Telegram would attach: a leading bot command and @mentions. */
function entitiesOf(text: string): NonNullable<Message['entities']> {
  const entities: NonNullable<Message['entities']> = [];
  const command = /^\/[A-Za-z0-9_]+(?:@\w+)?/.exec(text);
  if (command) entities.push({ type: 'bot_command', offset: 0, length: command[0].length });
  for (const m of text.matchAll(/@[A-Za-z0-9_]{5,32}/g)) {
    if (command && m.index < command[0].length) continue;
    entities.push({ type: 'mention', offset: m.index, length: m[0].length });
  }
  return entities;
}

/** An empty inline keyboard is no keyboard (Telegram shows and returns none). */
function normalizeMarkup(markup: unknown): InlineKeyboardMarkup | undefined {
  const parsed = typeof markup === 'string' ? (JSON.parse(markup) as unknown) : markup;
  if (!parsed || typeof parsed !== 'object' || !('inline_keyboard' in parsed)) return undefined;
  const keyboard = parsed as InlineKeyboardMarkup;
  return keyboard.inline_keyboard.some((row) => row.length > 0) ? keyboard : undefined;
}

/** Length as the user sees it: HTML tags and entities do not count. */
function visibleLength(text: string, parseMode: unknown): number {
  if (parseMode !== 'HTML') return text.length;
  return text.replace(/<[^>]+>/g, '').replace(/&(lt|gt|amp|quot|#\d+);/g, '_').length;
}

/**
 * multipart/form-data as grammY writes it: `--boundary\r\n`, parts separated by `\r\n--boundary\r\n`, each with
 * headers like `content-disposition:form-data;name="video"` (no space after the colon or semicolon) and, for
 * files, an unquoted `filename=x.mp4`; ends with `\r\n--boundary--\r\n`. Lenient about spaces and quotes.
 */
export function parseMultipart(
  body: Buffer,
  boundary: string,
): { fields: Record<string, unknown>; files: Record<string, UploadedFile> } {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  // A leading CRLF makes the first delimiter look like the others.
  const data = Buffer.concat([Buffer.from('\r\n'), body]);
  const raw: { name: string; filename?: string; content: Buffer }[] = [];
  let at = data.indexOf(delimiter);
  if (at < 0) throw new Error('no multipart boundary in the body');
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (data.subarray(afterDelimiter, afterDelimiter + 2).toString() === '--') break;
    const headerStart = afterDelimiter + 2;
    const headerEnd = data.indexOf('\r\n\r\n', headerStart);
    if (headerEnd < 0) throw new Error('multipart part without a header end');
    const next = data.indexOf(delimiter, headerEnd + 4);
    if (next < 0) throw new Error('multipart body without a closing boundary');
    const headers = data.subarray(headerStart, headerEnd).toString('utf8').split('\r\n');
    const disposition = headers.find((h) => /^content-disposition\s*:/i.test(h)) ?? '';
    const params = new Map<string, string>();
    for (const m of disposition.matchAll(/;\s*([a-z*]+)\s*=\s*(?:"([^"]*)"|([^;]*))/gi))
      params.set(m[1]!.toLowerCase(), (m[2] ?? m[3] ?? '').trim());
    const name = params.get('name');
    if (!name) throw new Error(`multipart part without a name: ${disposition}`);
    const filename = params.get('filename');
    raw.push({ name, ...(filename !== undefined ? { filename } : {}), content: data.subarray(headerEnd + 4, next) });
    at = next;
  }
  const byName = new Map(raw.map((part) => [part.name, part]));
  const fields: Record<string, unknown> = {};
  const files: Record<string, UploadedFile> = {};
  for (const part of raw) {
    if (part.filename !== undefined) continue;
    const value = part.content.toString('utf8');
    const attached = /^attach:\/\/(.+)$/.exec(value);
    const file = attached ? byName.get(attached[1]!) : undefined;
    if (file) {
      files[part.name] = { filename: file.filename ?? '', bytes: Buffer.from(file.content) };
      continue;
    }
    fields[part.name] = /^[[{]/.test(value)
      ? (JSON.parse(value) as unknown)
      : value === 'true'
        ? true
        : value === 'false'
          ? false
          : value;
  }
  return { fields, files };
}

function postJson(url: string, body: unknown, headers: Record<string, string>): Promise<number> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(payload.length), ...headers },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}
