import {
  ENTITLEMENT_TYPES,
  entitlementPayload,
  SKU_TYPES,
  snowflake,
  type FakeEntitlement,
  type FakeSku,
  type FakeUser,
} from './discord-payloads.js';

/**
 * The fake Discord's monetization (premium apps): the application's SKUs, the entitlements members' purchases create,
 * and the two REST routes a bot uses on them, validated as Discord does. A purchase dispatches ENTITLEMENT_CREATE and
 * a deletion (Discord's refund) ENTITLEMENT_DELETE through the gateway (to shard 0, as events outside a server go);
 * with no bot connected nothing is delivered, as when the bot is down, and the entitlement waits in the list.
 */

interface Reply {
  status: number;
  body?: unknown;
}

const error = (status: number, code: number, message: string): Reply => ({ status, body: { message, code } });
const invalid = (field: string, why: string): Reply => ({
  status: 400,
  body: { message: 'Invalid Form Body', code: 50035, errors: { [field]: why } },
});

const SNOWFLAKE = /^\d{1,20}$/;
/** List Entitlements' query string params, and nothing else: the fake refuses what it does not name rather than guess. */
const LIST_PARAMS = new Set([
  'user_id',
  'sku_ids',
  'before',
  'after',
  'limit',
  'guild_id',
  'exclude_ended',
  'exclude_deleted',
]);

export class FakeMonetization {
  /** What the application sells (Developer Portal → Monetization → SKUs). */
  readonly skus = new Map<string, FakeSku>();
  /** Every entitlement members' purchases created, oldest first (consumed and deleted ones included). */
  readonly entitlements: FakeEntitlement[] = [];

  constructor(
    private readonly applicationId: string,
    /** Sends a gateway dispatch; false when no session received it. */
    private readonly dispatch: (t: string, d: object) => boolean,
  ) {}

  /** A SKU the owners created in the Developer Portal; by default a one-time consumable, as credit packs are. */
  addSku(name: string, type: number = SKU_TYPES.CONSUMABLE): FakeSku {
    const sku = { id: snowflake(), name, type };
    this.skus.set(sku.id, sku);
    return sku;
  }

  /** A member completes Discord's purchase dialog for `skuId`: the entitlement, and ENTITLEMENT_CREATE. Refuses a SKU the application does not sell. */
  purchase(member: FakeUser, skuId: string, opts: { type?: number; guildId?: string } = {}): FakeEntitlement {
    if (!this.skus.has(skuId)) throw new Error(`the application sells no SKU ${skuId}`);
    const entitlement: FakeEntitlement = {
      id: snowflake(),
      skuId,
      userId: member.id,
      guildId: opts.guildId ?? null,
      type: opts.type ?? ENTITLEMENT_TYPES.PURCHASE,
      deleted: false,
      consumed: false,
      startsAt: new Date().toISOString(),
      endsAt: null,
    };
    this.entitlements.push(entitlement);
    this.dispatch('ENTITLEMENT_CREATE', entitlementPayload(entitlement, this.applicationId));
    return entitlement;
  }

  /** ENTITLEMENT_CREATE delivered again for an existing entitlement (a gateway replay), as it is now. */
  redeliver(id: string): boolean {
    return this.dispatch('ENTITLEMENT_CREATE', entitlementPayload(this.byId(id), this.applicationId));
  }

  /** Discord refunds the purchase (or removes it by hand): the entitlement is deleted and ENTITLEMENT_DELETE dispatched. */
  delete(id: string): FakeEntitlement {
    const entitlement = this.byId(id);
    entitlement.deleted = true;
    this.dispatch('ENTITLEMENT_DELETE', entitlementPayload(entitlement, this.applicationId));
    return entitlement;
  }

  /** GET /applications/{app}/skus: every SKU, with the fields Discord's SKU object has. */
  listSkus(appId: string): Reply {
    if (appId !== this.applicationId) return error(403, 50001, 'Missing Access');
    const slug = (name: string) => name.toLowerCase().replace(/\W+/g, '-');
    return {
      status: 200,
      body: [...this.skus.values()].map((s) => ({
        id: s.id,
        type: s.type,
        application_id: this.applicationId,
        name: s.name,
        slug: slug(s.name),
        flags: 1 << 2,
      })),
    };
  }

  /**
   * GET /applications/{app}/entitlements with Discord's query string params (user_id, sku_ids, before, after, limit
   * 1-100 default 100, guild_id, exclude_ended default false, exclude_deleted default true), oldest first; `before`
   * alone gives the newest `limit` before it. Any other param, or a malformed one, is a 400.
   */
  list(appId: string, query: URLSearchParams): Reply {
    if (appId !== this.applicationId) return error(403, 50001, 'Missing Access');
    for (const key of query.keys()) if (!LIST_PARAMS.has(key)) return invalid(key, 'unknown query parameter');
    for (const key of ['user_id', 'before', 'after', 'guild_id']) {
      const v = query.get(key);
      if (v !== null && !SNOWFLAKE.test(v)) return invalid(key, 'not a snowflake');
    }
    const skuIds = query.get('sku_ids')?.split(',');
    if (skuIds?.some((id) => !SNOWFLAKE.test(id))) return invalid('sku_ids', 'not a comma-delimited set of snowflakes');
    const limitText = query.get('limit') ?? '100';
    const limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > 100) return invalid('limit', 'must be 1-100');
    const excludeEnded = booleanParam(query.get('exclude_ended'), false);
    const excludeDeleted = booleanParam(query.get('exclude_deleted'), true);
    if (excludeEnded === undefined) return invalid('exclude_ended', 'not a boolean');
    if (excludeDeleted === undefined) return invalid('exclude_deleted', 'not a boolean');
    const [userId, guildId, before, after] = [
      query.get('user_id'),
      query.get('guild_id'),
      query.get('before'),
      query.get('after'),
    ];
    const found = this.entitlements
      .filter((e) => !excludeDeleted || !e.deleted)
      .filter((e) => !excludeEnded || e.endsAt === null || Date.parse(e.endsAt) > Date.now())
      .filter(
        (e) =>
          (!userId || e.userId === userId) &&
          (!guildId || e.guildId === guildId) &&
          (!skuIds || skuIds.includes(e.skuId)),
      )
      .filter((e) => (!after || BigInt(e.id) > BigInt(after)) && (!before || BigInt(e.id) < BigInt(before)))
      .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1));
    const page = before && !after ? found.slice(-limit) : found.slice(0, limit);
    return { status: 200, body: page.map((e) => entitlementPayload(e, this.applicationId)) };
  }

  /**
   * POST /applications/{app}/entitlements/{id}/consume: 204, and the entitlement lists as `consumed: true`. An unknown
   * (or deleted) entitlement is 404 Unknown Entitlement (10029); one of a SKU that is not consumable, or one consumed
   * already, is a 400 (Discord does not document that answer: the bot must not rely on a second consume succeeding).
   */
  consume(appId: string, entitlementId: string): Reply {
    if (appId !== this.applicationId) return error(403, 50001, 'Missing Access');
    const entitlement = this.entitlements.find((e) => e.id === entitlementId && !e.deleted);
    if (!entitlement) return error(404, 10029, 'Unknown Entitlement');
    if (this.skus.get(entitlement.skuId)?.type !== SKU_TYPES.CONSUMABLE)
      return error(400, 50035, 'Invalid Form Body: entitlement is not consumable');
    if (entitlement.consumed) return error(400, 50035, 'Invalid Form Body: entitlement already consumed');
    entitlement.consumed = true;
    return { status: 204 };
  }

  private byId(id: string): FakeEntitlement {
    const found = this.entitlements.find((e) => e.id === id);
    if (!found) throw new Error(`no entitlement ${id}`);
    return found;
  }
}

/** Discord's boolean query strings: True/true/1 and False/false/0; anything else is not a boolean. */
function booleanParam(value: string | null, fallback: boolean): boolean | undefined {
  if (value === null) return fallback;
  if (['true', 'True', '1'].includes(value)) return true;
  if (['false', 'False', '0'].includes(value)) return false;
  return undefined;
}
