import type { z } from 'zod';
import type { Config, CreditPack, DiscordSkuPack } from '../src/config.js';
import type { OwnerNotifier } from '../src/core/alerts/owner-notifier.js';
import type { Engine } from '../src/core/engine/engine.js';
import type { VideoRequest } from '../src/core/engine/intake.js';
import type { Prefilter } from '../src/core/moderation/prefilter.js';
import type { Store } from '../src/core/store.js';
import type { Clock, JobDestination, Logger, PlatformId } from '../src/core/ports.js';
import type { Identity } from '../src/core/users.js';

import type { PlatformRefund } from '../src/core/admin.js';
import type { Role } from '../src/core/roles.js';

export type { Role };

/** Who is asking, from where, and how to answer: everything a command knows of its platform. */
export interface CommandContext {
  platform: PlatformId;
  actor: Identity & { role: Role };
  /** Where replies and job messages go. */
  dest: JobDestination;
  guildId?: string;
  locale?: string;
  /** The server's or group's name, for the owners' list of communities. */
  communityName?: string;
  /** Leaves the server or group (LEAVE_UNLISTED); absent in private chats and on the console. */
  leaveCommunity?: () => Promise<void>;
  /** platform + chat + message/interaction id: makes money-moving commands idempotent on re-delivery. */
  intakeKey: string;
  /**
   * An image that came with the message and only the adapter can download (a Telegram photo, whose URL carries the
   * bot token): `/video` hands it to the engine, which calls it only once the member passed the checks.
   */
  fetchImage?: VideoRequest['fetchImage'];
  /** What `fetchImage` downloads, as a reference a later press (Confirm) can download again; a quote keeps this, never the file. */
  imageRef?: string;
  /** Rebuilds `fetchImage` from an `imageRef`: given on presses of the platform whose images those are. */
  fetchImageOf?: (ref: string) => VideoRequest['fetchImage'];
  /** Shows text with buttons (a quote's Confirm and Cancel); where absent, the text names the commands to type instead. */
  offer?(offer: Offer): Promise<void>;
  /** Credit packs on sale where the platform takes payments (Telegram Stars); absent where buying is not available. */
  shop?: Shop;
  /**
   * Refunds a Telegram Stars payment to the member who made it (refundStarPayment): undefined once Telegram agreed,
   * else its refusal. Only on Telegram, the one platform that takes payments.
   */
  refundStarPayment?: PlatformRefund;
  /** Discord's premium purchases: the SKUs on sale, offered as Discord's own purchase buttons (issue 15). */
  premiumShop?: PremiumShop;
  reply(text: string): Promise<void>;
}

/** A message with buttons; each button's `data` is an action such as `confirm:<quote id>` (fits Discord and Telegram). */
export interface Offer {
  text: string;
  buttons: { label: string; data: string; primary?: boolean }[];
}

export interface PremiumShop {
  /** The SKUs the owners sell (DISCORD_SKU_CREDITS; may be empty: buying is not set up). */
  packs: readonly DiscordSkuPack[];
  /** Shows the member a purchase button per pack; Discord shows each SKU's name and price, and sells it. */
  offer(packs: readonly DiscordSkuPack[]): Promise<void>;
}

export interface Shop {
  /** What the owners sell here (may be empty: buying is not set up). */
  packs: readonly CreditPack[];
  /** Sends the member an invoice for `pack` in the chat they asked in; the platform's payment flow takes it from there. */
  sendInvoice(pack: CreditPack): Promise<void>;
}

export interface CommandDeps {
  engine: Engine;
  db: Store;
  clock: Clock;
  config: Config;
  logger: Logger;
  prefilter: Prefilter;
  /** Tells the owners (log, and OWNER_ALERT_CHAT when set) of what needs them, such as a payment not credited. */
  notifier?: OwnerNotifier;
}

/** What a command produced that its caller may wait on (the console waits for `/video` jobs). */
export interface CommandOutcome {
  jobId?: string;
}

type AnyObject = z.ZodObject<z.ZodRawShape>;

/**
 * A platform-neutral chat command. Discord renders `options` as a slash command; text platforms
 * (console, Telegram) parse `/name positional... --option value`.
 */
export interface Command<S extends AnyObject = AnyObject> {
  name: string;
  description: string;
  /**
   * Who may run it: everyone; moderators (of the community it is given in) and owners; owners only. Checked at every
   * call, not only hidden at registration. A moderator command acts only within the moderator's community.
   */
  access: 'member' | 'moderator' | 'owner';
  options: S;
  /** Option names filled from positional words, in order; the last one takes the rest of the line. */
  positional?: readonly (keyof z.input<S> & string)[];
  /** Help text for each option (slash-command descriptions, `/help video`). */
  optionHelp?: Partial<Record<keyof z.input<S> & string, string>>;
  execute(ctx: CommandContext, options: z.output<S>, deps: CommandDeps): Promise<CommandOutcome | void>;
}

export function defineCommand<S extends AnyObject>(command: Command<S>): Command<S> {
  return command;
}
