import type { UserError } from '../src/core/errors.js';

/**
 * Member-facing text in English and Simplified Chinese. Core errors are written in English; here the common
 * ones get a Chinese rendering keyed by their identifier (with their context numbers), and everything
 * without a translation falls back to English.
 */

export type Locale = 'en' | 'zh';

/** Discord sends `zh-CN`, Telegram `zh-hans` or `zh`: anything Chinese gets Chinese, the rest English. */
export function localeOf(tag: string | null | undefined): Locale {
  return tag?.toLowerCase().startsWith('zh') ? 'zh' : 'en';
}

type Context = Record<string, unknown>;
const num = (v: unknown) => (typeof v === 'number' ? String(v) : '?');

const ZH_ERRORS: Record<string, (c: Context) => string> = {
  insufficient_credits: (c) => `这个视频需要 ${num(c.price)} 积分，你只有 ${num(c.balance)} 积分。`,
  rate_limited: (c) => `生成太频繁了，请 ${num(c.waitS)} 秒后再试。`,
  daily_quota: (c) => `你今天的 ${num(c.quota)} 个视频额度已用完，UTC 0 点重置。`,
  too_many_pending: () => '你有太多视频正在生成，请等其中一个完成或用 /cancel 取消。',
  banned: () => '你已被禁止使用本机器人。',
  prompt_blocked: () => '你的提示词被本服务器的内容过滤拦截了，请换个说法再试。',
  prompt_empty: () => '请描述你想要的视频，例如：/video 一只在雪地里奔跑的红狐狸',
  prompt_too_long: () => '提示词太长了（最多 2000 个字符）。',
  prompt_control_chars: () => '提示词里有不可见的控制字符，请删除后再试。',
  unknown_model: () => '没有这个模型，请用 /models 查看可用的模型。',
  bad_duration: () => '这个模型不支持这个时长，请用 /models 查看。',
  bad_resolution: () => '这个模型不支持这个分辨率，请用 /models 查看。',
  bad_aspect: () => '这个模型不支持这个画面比例。',
  english_only: () => '这个模型只接受英文提示词，请用英文描述，或换一个模型（/models）。',
  bad_image: () => '这张图片无法使用（地址无法访问、不是图片或太大）。',
  image_needs_public_url: () => '这个模型需要公开的图片地址，本机器人没有配置，请换一个模型。',
  no_such_job: () => '找不到这个任务。',
  job_final: () => '这个任务已经结束了。',
  too_late: () => '视频已在发送中，无法取消。',
  not_yours: () => '这不是你的任务。',
  budget_exceeded: () => '机器人已达到当前的花费上限，请稍后再试。',
  channel_not_allowed: () => '这个频道不能生成视频，请问管理员哪里可以。',
  chat_quota: () => '你在这里今天的视频额度已用完，UTC 0 点重置。',
  banned_here: () => '你已被禁止在这里生成视频。',
  owner_only: () => '只有机器人所有者可以这样做。',
  other_community: () => '这个任务不是在这个社区发起的。',
  budget_too_small: (c) => `本社区的积分预算只剩 ${num(c.left)}，请向机器人所有者申请更多。`,
  shutting_down: () => '机器人正在重启，请一分钟后再试。',
  intake_busy_user: () => '你的上一个请求还在准备中（下载图片、检查提示词），请等它进入队列后再试。',
  intake_busy: () => '现在有太多请求正在准备中，请一分钟后再试。',
  moderator_only: () => '这个命令只有管理员和机器人所有者可以使用。',
  quote_expired: () => '这个报价已过期，没有扣除积分，请重新发起。',
  quote_cancelled: () => '这个报价已取消，没有扣除积分。',
  quote_superseded: () => '这个报价已被按当前价格的新报价取代。',
  quote_confirmed: (c) => `这个报价已确认${typeof c.job === 'string' ? `，任务 ${c.job}` : ''}。`,
  quote_not_yours: () => '只有发起者可以确认或取消这个报价。',
  no_such_quote: () => '机器人找不到这个报价了，请重新发起。',
  price_changed: (c) => `价格已从 ${num(c.before)} 变为 ${num(c.price)} 积分，没有扣除积分。`,
};

export function localizeError(error: UserError, locale: Locale): string {
  const zh = locale === 'zh' ? ZH_ERRORS[error.identifier] : undefined;
  return zh ? zh(error.context) : error.message;
}

const TEXT = {
  cancel: { en: 'Cancel', zh: '取消' },
  retry: { en: 'Retry', zh: '重试' },
  retry_not_yours: { en: 'Only the person who asked for this video can retry it.', zh: '只有发起者可以重试这个视频。' },
  not_yours: {
    en: 'Only the person who asked for this video (or a moderator) can do that.',
    zh: '只有发起者（或管理员）可以这样做。',
  },
  cancelled: { en: 'Cancelled; your credits are back.', zh: '已取消，积分已退回。' },
  cancelled_for_requester: {
    en: 'Cancelled; the credits went back to the member who asked for it.',
    zh: '已取消，积分已退回给发起者。',
  },
  retrying: { en: 'Retrying as job {job}.', zh: '正在重试，新任务 {job}。' },
  already_retrying: { en: 'Already retrying as job {job}.', zh: '已在重试，任务 {job}。' },
  no_such_job: {
    en: 'The bot no longer knows this video. See /history.',
    zh: '机器人找不到这个视频了，请用 /history 查看。',
  },
  internal_error: {
    en: 'Something went wrong on our side (ref {ref}). Nothing was charged.',
    zh: '出了点问题（编号 {ref}），没有扣除积分。',
  },
  already_handled: { en: 'This request was already handled.', zh: '这个请求已经处理过了。' },
  moderator_only: {
    en: '/{command} is for moderators and the bot owner.',
    zh: '/{command} 只有管理员和机器人所有者可以使用。',
  },
  community_not_allowed: {
    en: 'This bot is not available in this server or group. Ask its owner to add it to ALLOWED_COMMUNITIES.',
    zh: '本机器人不在这个服务器或群组中提供服务，请联系机器人所有者把它加入 ALLOWED_COMMUNITIES。',
  },
  owner_only: { en: '/{command} is for the bot owner.', zh: '/{command} 只有机器人所有者可以使用。' },
  buy_not_here: { en: 'Buying credits is not available here yet.', zh: '这里暂时还不能购买积分。' },
  buy_not_set_up: { en: 'Buying credits is not set up on this bot.', zh: '这个机器人还没有开通购买积分。' },
  buy_packs: {
    en: 'Credit packs: {packs}. Pay with the button under the pack you want.',
    zh: '积分包：{packs}。点击你想要的积分包下方的按钮付款。',
  },
  buy_no_such_pack: {
    en: 'There is no pack of {credits} credits. Packs: {packs}.',
    zh: '没有 {credits} 积分的积分包。可选：{packs}。',
  },
  pack: { en: '{credits} credits for {stars} ⭐', zh: '{credits} 积分 {stars} ⭐' },
  premium_pack: { en: '{credits} credits', zh: '{credits} 积分' },
  buy_premium_packs: {
    en: 'Credit packs: {packs}. Buy one with its button below (Discord shows the price); the credits are added as soon as Discord confirms the purchase (see /balance).',
    zh: '积分包：{packs}。点击下方对应的按钮购买（价格由 Discord 显示）；Discord 确认购买后积分会立即到账（可用 /balance 查看）。',
  },
  invoice_title: { en: '{credits} credits', zh: '{credits} 积分' },
  invoice_description: {
    en: '{credits} credits for making videos with {bot}.',
    zh: '用于在 {bot} 生成视频的 {credits} 积分。',
  },
  paysupport_default: {
    en: 'Questions about a payment? Write to the owners of this bot{owners} and quote the payment id from your receipt (also shown in /history). Telegram support cannot help with purchases made in bots.',
    zh: '付款有问题？请联系这个机器人的所有者{owners}，并附上收据中的付款编号（也可在 /history 中查看）。Telegram 客服无法处理在机器人中的购买。',
  },
  purchase_credited: {
    en: 'Thank you! {credits} credits were added (payment {payment}). You now have {balance} credits.',
    zh: '谢谢！已为你增加 {credits} 积分（付款编号 {payment}）。你现在有 {balance} 积分。',
  },
  purchase_unmatched: {
    en: 'Your payment {payment} could not be credited automatically. Nothing is lost: it is on record. Please use /paysupport and quote this payment id.',
    zh: '你的付款 {payment} 无法自动入账。付款已记录，不会丢失。请使用 /paysupport 并提供这个付款编号。',
  },
  checkout_unknown: {
    en: 'This invoice is not one this bot sent. Use /buy for a fresh one.',
    zh: '这张账单不是本机器人发出的，请用 /buy 获取新的账单。',
  },
  checkout_gone: {
    en: 'This pack is no longer sold. Use /buy to see the current packs.',
    zh: '这个积分包已下架，请用 /buy 查看当前的积分包。',
  },
  checkout_repriced: {
    en: 'The price of this pack has changed. Use /buy for a fresh invoice.',
    zh: '这个积分包的价格已变更，请用 /buy 获取新的账单。',
  },
  checkout_currency: { en: 'Credits are sold for Telegram Stars only.', zh: '积分只能用 Telegram Stars 购买。' },
  checkout_busy: {
    en: 'The bot could not check this purchase just now. Nothing was charged; please try again in a minute.',
    zh: '机器人暂时无法确认这笔购买，没有扣费，请一分钟后再试。',
  },
  confirm: { en: 'Confirm', zh: '确认' },
  quote_offer: {
    en: 'This video costs {price} credits ({model}, {duration} s, {resolution}). Confirm within 2 minutes to start it; nothing is charged until you do.',
    zh: '这个视频需要 {price} 积分（{model}，{duration} 秒，{resolution}）。请在 2 分钟内确认开始生成；确认前不会扣除积分。',
  },
  quote_offer_flat: {
    en: 'This video costs {price} credits ({model}). Confirm within 2 minutes to start it; nothing is charged until you do.',
    zh: '这个视频需要 {price} 积分（{model}）。请在 2 分钟内确认开始生成；确认前不会扣除积分。',
  },
  quote_offer_upscale: {
    en: 'Upscaling this video to {resolution} costs {price} credits ({model}). Confirm within 2 minutes to start it; nothing is charged until you do.',
    zh: '把这个视频提升到 {resolution} 需要 {price} 积分（{model}）。请在 2 分钟内确认开始；确认前不会扣除积分。',
  },
  quote_offer_extend: {
    en: 'Extending this video costs {price} credits ({model}, {duration} s more, {resolution}). Confirm within 2 minutes to start it; nothing is charged until you do.',
    zh: '延长这个视频需要 {price} 积分（{model}，再加 {duration} 秒，{resolution}）。请在 2 分钟内确认开始；确认前不会扣除积分。',
  },
  quote_type_hint: {
    en: 'Type /confirm {id} to go ahead, or /dropquote {id} to cancel.',
    zh: '输入 /confirm {id} 确认，或 /dropquote {id} 取消。',
  },
  quote_sent: { en: 'The price is shown above: confirm it to go ahead.', zh: '价格已显示，请确认后开始。' },
  quote_confirmed: { en: 'Confirmed: {price} credits for job {job}.', zh: '已确认：任务 {job}，{price} 积分。' },
  quote_already_confirmed: { en: 'Already confirmed as job {job}.', zh: '已确认，任务 {job}。' },
  quote_dropped: { en: 'Cancelled; nothing was charged.', zh: '已取消，没有扣除积分。' },
  quote_expired: {
    en: 'This quote expired; nothing was charged. Please ask again.',
    zh: '这个报价已过期，没有扣除积分，请重新发起。',
  },
  quote_changed: {
    en: 'The price changed from {before} to {price} credits; nothing was charged. Here is the new quote.',
    zh: '价格已从 {before} 变为 {price} 积分，没有扣除积分。以下是新的报价。',
  },
  quote_not_yours: {
    en: 'Only the person who asked for this video can confirm or cancel it.',
    zh: '只有发起者可以确认或取消这个报价。',
  },
  no_such_quote: {
    en: 'The bot no longer knows this quote. Please ask again.',
    zh: '机器人找不到这个报价了，请重新发起。',
  },
  checkout_banned: {
    en: 'You are banned from using this bot, so you cannot buy credits.',
    zh: '你已被禁止使用本机器人，不能购买积分。',
  },
  // Follow-ups (Extend, Upscale): buttons under a delivered video and /extend, /upscale.
  upscale: { en: 'Upscale to {resolution} · {price} credits', zh: '提升到 {resolution} · {price} 积分' },
  extend: { en: 'Extend', zh: '延长' },
  extend_priced: { en: 'Extend · {price} credits', zh: '延长 · {price} 积分' },
  followup_not_yours: {
    en: 'Only the person who asked for this video can extend or upscale it (it is charged to them).',
    zh: '只有发起者可以延长或提升这个视频（费用由发起者支付）。',
  },
  followup_queued: { en: 'Follow-up queued as job {job}.', zh: '后续任务已排队，任务 {job}。' },
  already_following_up: { en: 'Already queued as job {job}.', zh: '已排队，任务 {job}。' },
  extend_how: {
    en: 'Reply with /extend {job} followed by what happens next.',
    zh: '请回复 /extend {job} 并写下接下来发生的事。',
  },
  extend_prompt_label: { en: 'What happens next?', zh: '接下来发生什么？' },
} as const satisfies Record<string, Record<Locale, string>>;

export type TextKey = keyof typeof TEXT;

export function t(key: TextKey, locale: Locale, params: Record<string, string> = {}): string {
  return TEXT[key][locale].replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '');
}

/** Chinese command descriptions (Discord `description_localizations`, Telegram `setMyCommands` for `zh`). */
export const ZH_DESCRIPTIONS: Record<string, string> = {
  video: '根据提示词（可附图片）生成短视频',
  musicvideo: '把你用 Suno 做的歌变成音乐视频',
  balance: '查看你的积分',
  history: '你最近的视频和购买',
  buy: '用 Telegram Stars 购买积分',
  paysupport: '付款问题的帮助',
  cancel: '取消还没完成的视频（退回积分）',
  queue: '你的视频在队列中的位置',
  models: '可用的视频模型和价格',
  help: '这个机器人能做什么',
  credits: '从本社区预算中发放积分（管理员）；所有者可创建或扣除积分',
  budget: '本社区管理员可发放的积分预算（所有者可增减）',
  communities: '机器人所在的每个服务器和群组（所有者）',
  quota: '设置用户每天的视频数量（管理员）',
  ban: '禁止用户在本社区生成视频（管理员）；所有者的禁止对所有地方有效',
  unban: '解除禁止（管理员）',
  blocklist: '管理本社区的提示词屏蔽词（管理员）；所有者管理全局屏蔽词',
  stats: '本社区的使用量和花费（管理员）；所有者可看全部',
  refund: '退回已完成视频的积分（管理员）',
  refundpayment: '退还 Telegram Stars 付款并收回其积分（所有者）',
  settings: '查看或修改本服务器的视频设置（管理员）',
  upscale: '把你已完成的视频提升到 1080p 或 4K（支持的模型）；只收差价',
  extend: '用新的提示词接着生成你已完成的视频（支持的模型）；按新视频收费',
};
