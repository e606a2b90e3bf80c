import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  MessageFlags,
  Routes,
  type REST,
  type RepliableInteraction,
} from 'discord.js';
import type { CommandDeps } from '../../../commands/types.js';
import type { DiscordSkuPack } from '../../config.js';
import { balanceOf, creditPurchase, recordPurchaseRefund } from '../../core/credits/ledger.js';
import type { Logger } from '../../core/ports.js';
import { ensureUser } from '../../core/users.js';

/**
 * Discord premium purchases (issue 15; platforms.md §1): an owner sells one-time *consumable* SKUs, each mapped to a
 * number of credits (DISCORD_SKU_CREDITS). A member's purchase is an entitlement, which Discord announces with
 * ENTITLEMENT_CREATE and lists (GET /applications/{app}/entitlements) until the app consumes it.
 *
 * Delivery, for each entitlement, from the event or from the list read at start (what arrived while the bot was down):
 * 1. credit the buyer once: a `purchase` ledger entry keyed `discord:<entitlement id>` (unique among purchases, and
 *    namespaced so it can never meet a Telegram charge id); a replayed event, or the same entitlement seen in the list
 *    and by the event at once, writes nothing more;
 * 2. then consume it (POST …/entitlements/{id}/consume). Credit first, consume after: a crash between the two leaves an
 *    unconsumed entitlement already credited, which the next start lists, finds credited (nothing written) and consumes.
 *    The other order could lose a member's purchase. A consume that fails is logged and retried at the next start.
 * Consumed entitlements are delivered: the list at start skips them.
 *
 * An entitlement of a SKU not in DISCORD_SKU_CREDITS (or with no user) is not credited and not consumed: it is logged
 * at error and sent to OWNER_ALERT_CHAT once. Once the owner adds the SKU, the next start credits it.
 *
 * A banned member's purchase is credited all the same: Discord has already taken their money (there is no
 * pre-checkout on Discord to refuse it), so the credits are theirs; they cannot spend them while banned. The owners
 * are alerted, so they can ask Discord to refund it, which takes the credits back (below).
 *
 * ENTITLEMENT_DELETE (Discord refunded the purchase, or removed it), an ENTITLEMENT_UPDATE saying `deleted`, or a
 * deleted entitlement in the list read at start (the event came while the bot was down): the
 * credits are taken back like an owner's refund of a Telegram payment, a `purchase_refund` entry under the same
 * payment id (one per payment), with no actor (Discord did it). Never below zero: what the member already spent (or
 * holds in videos in progress) cannot be taken back; the entry records what was, and the owners are told the rest.
 */

const PAGE = 100;
/**
 * Pages read at start, oldest first: the list cannot be filtered by `consumed`, so it holds every purchase ever made
 * (100,000 here, in the background); past that the newest are not looked at, and the log says so.
 */
const MAX_PAGES = 1000;

/** What the bot reads of an entitlement: the gateway's (through discord.js) and the list's alike. */
export interface EntitlementInfo {
  id: string;
  skuId: string;
  userId: string | null;
  type: number;
  consumed: boolean;
  deleted: boolean;
}

export interface EntitlementDeps {
  rest: REST;
  applicationId: string;
  packs: readonly DiscordSkuPack[];
  logger: Logger;
  commands: CommandDeps;
}

/** /buy's offer: Discord's own purchase buttons (ButtonStyle.Premium: the SKU's name and price), 5 to a row, in a private follow-up. */
export async function offerPremiumButtons(
  interaction: RepliableInteraction,
  packs: readonly { skuId: string }[],
): Promise<void> {
  const rows: ActionRowBuilder<ButtonBuilder>[] = [];
  for (let i = 0; i < packs.length && rows.length < 5; i += 5) {
    rows.push(
      new ActionRowBuilder<ButtonBuilder>().addComponents(
        packs.slice(i, i + 5).map((p) => new ButtonBuilder().setStyle(ButtonStyle.Premium).setSKUId(p.skuId)),
      ),
    );
  }
  await interaction.followUp({ components: rows, flags: MessageFlags.Ephemeral, allowedMentions: { parse: [] } });
}

export type Delivery = 'credited' | 'credited_before' | 'not_credited' | 'skipped';

export function paymentIdOf(entitlementId: string): string {
  return `discord:${entitlementId}`;
}

/** Steps 1 and 2 above for one entitlement; what happened to it. */
export async function deliverEntitlement(e: EntitlementInfo, d: EntitlementDeps): Promise<Delivery> {
  if (e.deleted || e.consumed) return 'skipped';
  const log = d.logger.child({ entitlement: e.id, sku: e.skuId, buyer: e.userId });
  const pack = d.packs.find((p) => p.skuId === e.skuId);
  if (!pack || !e.userId) {
    const why = pack ? 'it names no user' : `SKU ${e.skuId} is not in DISCORD_SKU_CREDITS`;
    log.error(
      { type: e.type },
      `DISCORD PURCHASE NOT CREDITED: ${why}; add the SKU and restart, or credit it by hand (/credits)`,
    );
    const { db, clock } = d.commands;
    if (await db.intakeKeys.claim(`discord:entitlement:${e.id}`, 'payment', clock.now())) {
      d.commands.notifier?.alert({
        kind: 'payment_unmatched',
        text: `A Discord purchase (entitlement ${e.id}, SKU ${e.skuId}, by ${e.userId ? `discord:${e.userId}` : 'no user'}) was not credited: ${why}. Add the SKU to DISCORD_SKU_CREDITS and restart (it is credited then), or credit it by hand (/credits).`,
        fields: { entitlement: e.id, sku: e.skuId, buyer: e.userId },
      });
    }
    return 'not_credited';
  }
  const { written, banned, balance } = await credit(d, e.userId, pack, e.id);
  if (written) {
    log.info({ credits: pack.credits, balance }, 'discord purchase credited');
    if (banned) {
      d.commands.notifier?.alert({
        kind: 'payment_banned_buyer',
        text: `discord:${e.userId}, who is banned, bought ${pack.credits} credits on Discord (entitlement ${e.id}). The credits are theirs (Discord took the payment); a refund through Discord takes them back.`,
        fields: { entitlement: e.id, buyer: e.userId, credits: pack.credits },
      });
    }
  } else log.info('discord purchase seen again: credited before');
  await consume(d, e.id, log);
  return written ? 'credited' : 'credited_before';
}

async function credit(d: EntitlementDeps, userId: string, pack: DiscordSkuPack, entitlementId: string) {
  const { db, clock, config } = d.commands;
  return db.transaction(async (tx) => {
    const user = await ensureUser(tx, clock, { platform: 'discord', platformUserId: userId }, config.STARTING_CREDITS);
    const reason = `Discord purchase of SKU ${pack.skuId}`;
    const written = await creditPurchase(tx, clock, {
      userId: user.id,
      amount: pack.credits,
      paymentId: paymentIdOf(entitlementId),
      reason,
    });
    return { written, banned: user.banned, balance: await balanceOf(tx, user.id) };
  });
}

async function consume(d: EntitlementDeps, entitlementId: string, log: Logger): Promise<void> {
  try {
    await d.rest.post(Routes.consumeEntitlement(d.applicationId, entitlementId));
  } catch (error) {
    log.warn(
      { err: error },
      'could not consume a credited discord entitlement: the next start retries (it is not credited twice)',
    );
  }
}

/**
 * At start: every unconsumed, undeleted entitlement of the application, delivered as above (those of known SKUs are
 * credited if they were not, then consumed), and every deleted one taken back if it was credited and not taken back
 * yet (its ENTITLEMENT_DELETE came while the bot was down, or failed). Returns how many it credited now.
 */
export async function reconcileEntitlements(d: EntitlementDeps): Promise<number> {
  let credited = 0;
  let after: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    // Deleted ones too: a refund Discord made while the bot was down is taken back here (once, as from the event).
    const query = new URLSearchParams({
      exclude_ended: 'true',
      exclude_deleted: 'false',
      limit: String(PAGE),
      ...(after ? { after } : {}),
    });
    const list = (await d.rest.get(Routes.entitlements(d.applicationId), { query })) as RawEntitlement[];
    for (const raw of list) {
      if (raw.deleted) {
        await takeBackEntitlement(fromRaw(raw), d);
        continue;
      }
      if (raw.consumed !== false) continue;
      const delivered = await deliverEntitlement(fromRaw(raw), d);
      if (delivered === 'credited') {
        credited++;
        d.logger.warn(
          { entitlement: raw.id, buyer: raw.user_id },
          'discord purchase credited at start: its event was never handled',
        );
      }
    }
    if (list.length < PAGE) return credited;
    after = list.at(-1)!.id;
  }
  d.logger.warn(
    { pages: MAX_PAGES, after },
    'stopped reading discord entitlements at start: newer unconsumed ones are credited only when their event arrives',
  );
  return credited;
}

interface RawEntitlement {
  id: string;
  sku_id: string;
  user_id?: string;
  type: number;
  consumed?: boolean;
  deleted: boolean;
}

function fromRaw(raw: RawEntitlement): EntitlementInfo {
  return {
    id: raw.id,
    skuId: raw.sku_id,
    userId: raw.user_id ?? null,
    type: raw.type,
    consumed: raw.consumed === true,
    deleted: raw.deleted,
  };
}

export interface EntitlementRefund {
  credits: number;
  taken: number;
  shortfall: number;
}

/**
 * Discord deleted an entitlement (a refund): its purchase's credits are taken back once, as far as the balance allows.
 * Undefined when there is nothing to take back (never credited, or taken back before).
 */
export async function takeBackEntitlement(
  e: Pick<EntitlementInfo, 'id' | 'skuId' | 'userId'>,
  d: EntitlementDeps,
): Promise<EntitlementRefund | undefined> {
  const paymentId = paymentIdOf(e.id);
  const log = d.logger.child({ entitlement: e.id, sku: e.skuId, buyer: e.userId });
  const { db, clock } = d.commands;
  const purchase = await db.ledger.purchaseByPayment(paymentId);
  if (!purchase) {
    log.info('a discord entitlement was deleted before it was credited: nothing to take back');
    return undefined;
  }
  if (purchase.refund) return undefined;
  const reason = `Discord refunded entitlement ${e.id} (SKU ${e.skuId})`;
  const recorded = await recordPurchaseRefund(db, clock, {
    userId: purchase.userId,
    amount: purchase.amount,
    paymentId,
    actorUserId: null,
    reason,
  });
  if (!recorded.written) return undefined;
  const refund = { credits: purchase.amount, taken: recorded.taken, shortfall: purchase.amount - recorded.taken };
  const short =
    refund.shortfall > 0
      ? ` ${refund.shortfall} could not be taken back: the member had already spent them (or holds them in videos in progress).`
      : '';
  d.commands.notifier?.alert({
    kind: 'payment_refunded_by_platform',
    text: `Discord refunded a purchase (entitlement ${e.id}, SKU ${e.skuId}, by discord:${e.userId ?? '?'}): took back ${refund.taken} of its ${refund.credits} credits.${short} Balance now ${recorded.balance}.`,
    fields: { entitlement: e.id, buyer: e.userId, ...refund },
  });
  return refund;
}
