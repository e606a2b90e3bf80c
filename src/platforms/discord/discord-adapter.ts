import {
  ApplicationCommandOptionType,
  Client,
  Events,
  GatewayCloseCodes,
  GatewayIntentBits,
  MessageFlags,
  PermissionFlagsBits,
  REST,
  RESTEvents,
  Routes,
  type AutocompleteInteraction,
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  type Entitlement,
  type Guild,
  type Interaction,
  type Message,
  type ModalSubmitInteraction,
  type RepliableInteraction,
} from 'discord.js';
import { commands, findCommand } from '../../../commands/index.js';
import { parseCommandText } from '../../../commands/parse-text.js';
import { passCommunityGate } from '../../../commands/community-gate.js';
import {
  authorizeJobAction,
  describeActionError,
  runJobAction,
  type ActionDecision,
  type ActionInput,
} from '../../../commands/job-actions.js';
import { COMMUNITY_NOT_ALLOWED, runCommand } from '../../../commands/run-command.js';
import type { CommandContext, CommandDeps, Offer } from '../../../commands/types.js';
import { authorizeQuoteAction, runQuoteAction, type QuoteAction } from '../../../commands/quote-actions.js';
import { clip } from '../../clip.js';
import type { Config } from '../../config.js';
import { newCorrelationId } from '../../core/errors.js';
import { markLeft, noteCommunity } from '../../core/communities.js';
import type { Clock, JobDestination, Logger } from '../../core/ports.js';
import { roleOf } from '../../core/roles.js';
import type { Identity } from '../../core/users.js';
import type { PlatformAdapter } from '../platform-adapter.js';
import { AUTOCOMPLETE_OPTIONS, discordCommandDefinitions, registerCommands } from './command-definitions.js';
import {
  CUSTOM_ID,
  DiscordChat,
  EXTEND_PROMPT_FIELD,
  extendModal,
  offerComponents,
  type LiveReply,
} from './discord-chat.js';
import { escapeForDiscord } from './discord-markdown.js';
import { say } from './discord-text.js';
import { clientShardOptions, registersCommands } from './shards.js';
import {
  deliverEntitlement,
  offerPremiumButtons,
  reconcileEntitlements,
  takeBackEntitlement,
  type EntitlementDeps,
} from './discord-entitlements.js';

/**
 * Discord, on discord.js v14 over the gateway. Members use slash commands rendered from the registry, or mention
 * the bot with a prompt (and an image) in a channel, which is `/video`.
 *
 * Intents: Guilds (servers, channels) and GuildMessages (message events, for mention requests). Not the privileged
 * MessageContent: Discord includes the content and attachments of messages that mention the bot without it, and that
 * is all the bot reads. Requesting it while the portal has it off would close the gateway (4014), and bots in more
 * than 100 servers need Discord's approval for it.
 *
 * Every interaction is acknowledged first (Discord's 3 s deadline), then run through `runCommand`. Moderator
 * commands are hidden from members at registration and checked again here at every call: the interaction's
 * member permissions (Manage Server) or OWNER_IDS; never in DMs.
 */

export interface DiscordAdapterDeps {
  config: Config;
  logger: Logger;
  clock: Clock;
  /** Told of every 429 Discord answers, on either REST client (for metrics). Must be cheap and never throw. */
  onRateLimited?: () => void;
}

export const DISCORD_INTENTS: readonly GatewayIntentBits[] = [
  GatewayIntentBits.Guilds,
  GatewayIntentBits.GuildMessages,
];

/** Long enough for a large upload on a slow link; a timed-out request is retried by discord.js (hence the nonces). */
export const DISCORD_REST_TIMEOUT_MS = 180_000;
const READY_TIMEOUT_MS = 60_000;
/** Commands whose public reply becomes the status of the job they create. */
const JOB_COMMANDS: ReadonlySet<string> = new Set(['video', 'musicvideo', 'upscale', 'extend']);
const MAX_REPLY = 2000;

export function createDiscordAdapter({ config, logger, clock, onRateLimited }: DiscordAdapterDeps): PlatformAdapter {
  const token = config.DISCORD_TOKEN;
  if (!token) throw new Error('createDiscordAdapter needs DISCORD_TOKEN');
  const log = logger.child({ platform: 'discord' });
  const restOptions = { api: config.DISCORD_API_BASE, timeout: DISCORD_REST_TIMEOUT_MS };
  // The engine's REST client outlives the gateway connection: jobs keep editing and delivering while it reconnects.
  const rest = new REST(restOptions).setToken(token);
  reportRateLimits(rest, onRateLimited);
  const chat = new DiscordChat({ rest, logger: log, clock });
  let client: Client | undefined;

  const adapter: PlatformAdapter = {
    platform: chat,
    async start(commandDeps) {
      const created = new Client({
        intents: [...DISCORD_INTENTS],
        ...clientShardOptions(config),
        rest: restOptions,
        allowedMentions: { parse: [], repliedUser: false },
      });
      reportRateLimits(created.rest, onRateLimited);
      const handlers = new DiscordHandlers(created, chat, commandDeps, config, log);
      created.on(Events.InteractionCreate, (interaction) => void handlers.interaction(interaction));
      created.on(Events.MessageCreate, (message) => void handlers.message(message));
      created.on(Events.Error, (error) => log.warn({ err: error }, 'Discord client error'));
      created.on(Events.GuildCreate, (guild) => void noteGuild(guild, commandDeps, config, log));
      // The servers the bot is already in arrive at start as GUILD_CREATEs that discord.js reports as GuildAvailable.
      created.on(Events.GuildAvailable, (guild) => void noteGuild(guild, commandDeps, config, log));
      // Premium purchases (discord-entitlements.ts): credited once per entitlement, then consumed; a deletion takes back.
      const entitlements = (applicationId: string): EntitlementDeps => ({
        rest,
        applicationId,
        packs: config.DISCORD_SKU_CREDITS,
        logger: log,
        commands: commandDeps,
      });
      const onEntitlement = (what: string, work: (e: Entitlement) => Promise<unknown>) => (e: Entitlement) =>
        void work(e).catch((error: unknown) =>
          log.error({ err: error, entitlement: e.id }, `could not handle a discord ${what}; the next start retries`),
        );
      created.on(
        Events.EntitlementCreate,
        onEntitlement('purchase', (e) => deliverEntitlement(e, entitlements(e.applicationId))),
      );
      created.on(
        Events.EntitlementDelete,
        onEntitlement('refund', (e) => takeBackEntitlement(e, entitlements(e.applicationId))),
      );
      const updated = onEntitlement('refund', async (e) =>
        e.deleted ? takeBackEntitlement(e, entitlements(e.applicationId)) : undefined,
      );
      created.on(Events.EntitlementUpdate, (_before, after) => updated(after));
      await loginAndWait(created, token);
      client = created;
      const applicationId = created.application?.id ?? created.user!.id;
      // Purchases made while the bot was down, or credited by a process that died before consuming them. Shard 0's
      // process does it (it also gets the entitlement events); in the background, like Telegram's reconciliation.
      if (config.DISCORD_SKU_CREDITS.length > 0 && registersCommands(config)) {
        void reconcileEntitlements(entitlements(applicationId)).then(
          (credited) => log.info({ credited }, 'discord entitlements reconciled'),
          (error: unknown) =>
            log.warn({ err: error }, 'could not reconcile discord entitlements; the next start tries again'),
        );
      }
      if (registersCommands(config)) await registerAll(applicationId, rest, config, log);
      else
        log.info(
          { shards: config.DISCORD_SHARD_IDS },
          'not registering the slash commands: the process running shard 0 does',
        );
      log.info(
        {
          user: created.user?.tag,
          guilds: created.guilds.cache.size,
          shards: created.options.shards,
          shardCount: created.options.shardCount,
        },
        'Discord connected',
      );
    },
    identity: () =>
      client?.user ? { name: client.user.tag, applicationId: client.application?.id ?? client.user.id } : undefined,
    async stop() {
      // Closes the gateway (no new commands); `rest` stays usable so the engine can park jobs.
      await client?.destroy();
      client = undefined;
    },
  };
  return adapter;
}

/** Registers (when they changed) the slash commands; a failure leaves the previous ones in place. */
async function registerAll(applicationId: string, rest: REST, config: Config, log: Logger): Promise<void> {
  await registerCommands({
    rest,
    applicationId,
    guildIds: config.DISCORD_GUILD_IDS,
    dataDir: config.dataDir,
    definitions: discordCommandDefinitions(commands),
    logger: log,
  }).catch((error: unknown) =>
    log.error({ err: error }, 'could not register the slash commands; they stay as they were'),
  );
}

/**
 * Every server the bot is in is recorded for the owners' /communities (GUILD_CREATE arrives for each at start, as
 * GuildAvailable, and on joining one, as GuildCreate). With ALLOWED_COMMUNITIES and LEAVE_UNLISTED, an unlisted server is left at once.
 */
async function noteGuild(guild: Guild, deps: CommandDeps, config: Config, log: Logger): Promise<void> {
  const id = `discord:${guild.id}`;
  try {
    await noteCommunity(deps.db, deps.clock, id, guild.name);
    if (!config.LEAVE_UNLISTED || config.ALLOWED_COMMUNITIES.length === 0 || config.ALLOWED_COMMUNITIES.includes(id))
      return;
    await guild.leave();
    await markLeft(deps.db, deps.clock, id);
    log.info({ community: id }, 'left a server not on ALLOWED_COMMUNITIES (LEAVE_UNLISTED)');
  } catch (error) {
    log.warn({ err: error, community: id }, 'could not record or leave a server');
  }
}

/**
 * Counts 429 answers. The REST `rateLimited` event is not used: discord.js emits it when it holds a request back
 * for a bucket it already knows is empty, which is a wait, not a 429; `response` sees every answer as it arrives,
 * including the 429s discord.js then waits out and retries by itself.
 */
function reportRateLimits(rest: REST, onRateLimited: (() => void) | undefined): void {
  if (!onRateLimited) return;
  rest.on(RESTEvents.Response, (_request, response) => {
    if (response.status === 429) onRateLimited();
  });
}

/** The gateway refused us for good (bad token 4004, disallowed intents 4014, ...). */
export class GatewayClosedError extends Error {
  constructor(readonly code: number) {
    super(`Discord closed the gateway connection with code ${code} (${GatewayCloseCodes[code] ?? 'unknown'})`);
    this.name = 'GatewayClosedError';
  }
}

/** Logs in and resolves once READY (and the guilds) arrived; rejects at once when the gateway refuses us. */
function loginAndWait(client: Client, token: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onDisconnect = (event: { code: number }) => fail(new GatewayClosedError(event.code));
    const timer = setTimeout(() => fail(new Error('Discord did not become ready in time')), READY_TIMEOUT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      client.off(Events.ShardDisconnect, onDisconnect);
    };
    function fail(error: unknown): void {
      cleanup();
      void client
        .destroy()
        .catch(() => {})
        .finally(() => reject(error));
    }
    client.on(Events.ShardDisconnect, onDisconnect);
    client.once(Events.ClientReady, () => {
      cleanup();
      resolve();
    });
    client.login(token).catch(fail);
  });
}

/**
 * Interactions and mention requests, each behind an error boundary: a bug is logged with a correlation id and the
 * member sees that id.
 */
class DiscordHandlers {
  constructor(
    private readonly client: Client,
    private readonly chat: DiscordChat,
    private readonly deps: CommandDeps,
    private readonly config: Config,
    private readonly log: Logger,
  ) {}

  async interaction(interaction: Interaction): Promise<void> {
    try {
      if (interaction.isAutocomplete()) await this.autocomplete(interaction);
      else if (interaction.isChatInputCommand()) await this.slashCommand(interaction);
      else if (interaction.isButton()) await this.button(interaction);
      else if (interaction.isModalSubmit()) await this.extendModal(interaction);
    } catch (error) {
      const ref = newCorrelationId();
      this.log.error({ err: error, ref, interaction: interaction.id }, 'Discord interaction failed');
      if (!interaction.isRepliable()) return;
      const body = {
        content: say('internal_error', interaction.locale, { ref }),
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      } as const;
      await (interaction.deferred || interaction.replied ? interaction.followUp(body) : interaction.reply(body)).catch(
        () => {},
      );
    }
  }

  async message(message: Message): Promise<void> {
    try {
      await this.mention(message);
    } catch (error) {
      const ref = newCorrelationId();
      this.log.error({ err: error, ref, message: message.id }, 'Discord mention request failed');
      const content = say('internal_error', message.guild?.preferredLocale, { ref });
      await message.reply({ content, allowedMentions: { parse: [], repliedUser: false } }).catch(() => {});
    }
  }

  // ------------------------------------------------------------------ slash commands

  private async slashCommand(interaction: ChatInputCommandInteraction): Promise<void> {
    const command = findCommand(interaction.commandName);
    const makesJob = command !== undefined && JOB_COMMANDS.has(command.name);
    // First, within Discord's 3 s: a job's reply is public (it becomes the status), everything else is private.
    await interaction.deferReply(makesJob ? {} : { flags: MessageFlags.Ephemeral });
    if (!command) return new Responder(interaction, false).reply(say('unknown_command', interaction.locale));
    if (command.access !== 'member' && !interaction.inGuild()) {
      this.log.info({ command: command.name, user: interaction.user.id }, 'moderator command refused in a DM');
      return new Responder(interaction, false).reply(
        say('moderator_in_dm', interaction.locale, { command: command.name }),
      );
    }
    const live = makesJob ? this.chat.liveReply(interaction) : undefined;
    const responder = new Responder(interaction, makesJob, live);
    const result = await this.chat.handingOver(interaction.id, live && { reply: live }, () =>
      runCommand(command, optionValues(interaction), this.contextOf(interaction, responder), this.deps),
    );
    // Outside ALLOWED_COMMUNITIES the bot stays silent after its one refusal: not even a "Done." for a command it ignored.
    if (!result.ok && result.error === COMMUNITY_NOT_ALLOWED) return responder.withdraw();
    await responder.finish();
  }

  private contextOf(interaction: RepliableInteraction, responder: Responder): CommandContext {
    const identity = identityOf(interaction);
    return {
      platform: 'discord',
      actor: { ...identity, role: roleOf(identity, this.config.OWNER_IDS, managesServer(interaction)) },
      dest: destinationOf(interaction),
      ...this.communityOf(interaction.guildId, interaction.guild),
      locale: interaction.locale,
      intakeKey: `discord:${interaction.channelId}:${interaction.id}`,
      premiumShop: {
        packs: this.config.DISCORD_SKU_CREDITS,
        offer: (packs) => offerPremiumButtons(interaction, packs),
      },
      reply: (text) => responder.reply(text),
      offer: (offer) => responder.offer(offer),
    };
  }

  private async autocomplete(interaction: AutocompleteInteraction): Promise<void> {
    const focused = interaction.options.getFocused(true);
    if (!AUTOCOMPLETE_OPTIONS.has(focused.name)) return interaction.respond([]);
    const typed = String(focused.value).trim().toLowerCase();
    const choices = this.deps.engine
      .availableModels()
      .filter((m) => m.kind === 'video')
      .filter((m) => !typed || [m.id, m.label, ...(m.aliases ?? [])].some((name) => name.toLowerCase().includes(typed)))
      .slice(0, 25)
      .map((m) => ({ name: clip(`${m.id} · ${m.label}`, 100), value: m.id }));
    await interaction.respond(choices);
  }

  // ------------------------------------------------------------------ buttons

  /**
   * Cancel / Retry, authorised by the platform-neutral job actions. A refusal must be private, and Retry's reply is
   * public (it becomes the new job's status), so the decision (one indexed read) comes before acknowledging.
   */
  private async button(interaction: ButtonInteraction): Promise<void> {
    const quote = CUSTOM_ID.parseQuote(interaction.customId);
    if (quote) return this.quoteButton(interaction, quote.action, quote.quoteId);
    const pressed = CUSTOM_ID.parse(interaction.customId);
    if (!pressed) return;
    const ctx = this.contextOf(interaction, new Responder(interaction, false));
    if (!(await passCommunityGate(ctx, this.deps))) return;
    const decision = await authorizeJobAction(pressed.action, pressed.jobId, ctx, this.deps);
    if (!decision.ok) {
      this.log.info(
        { action: pressed.action, jobId: pressed.jobId, user: interaction.user.id },
        'button press refused',
      );
      await interaction.reply({
        content: decision.text,
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    // Extend needs a prompt: a modal asks for it, and its submission (extendModal) runs the action, authorised again.
    if (pressed.action === 'extend') return interaction.showModal(extendModal(pressed.jobId, interaction.locale));
    await this.runPressed(interaction, ctx, pressed, decision);
  }

  /** The Extend modal's submission: the press again, now with its prompt. */
  private async extendModal(interaction: ModalSubmitInteraction): Promise<void> {
    const pressed = CUSTOM_ID.parse(interaction.customId);
    if (pressed?.action !== 'extend') return;
    const ctx = this.contextOf(interaction, new Responder(interaction, false));
    if (!(await passCommunityGate(ctx, this.deps))) return;
    const decision = await authorizeJobAction('extend', pressed.jobId, ctx, this.deps);
    if (!decision.ok) {
      await interaction.reply({
        content: decision.text,
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    await this.runPressed(
      interaction,
      ctx,
      { ...pressed, prompt: interaction.fields.getTextInputValue(EXTEND_PROMPT_FIELD) },
      decision,
    );
  }

  private async runPressed(
    interaction: ButtonInteraction | ModalSubmitInteraction,
    ctx: CommandContext,
    pressed: NonNullable<ReturnType<typeof CUSTOM_ID.parse>> & ActionInput,
    decision: Extract<ActionDecision, { ok: true }>,
  ): Promise<void> {
    // Retry and the follow-ups make a job: their answer is public, as it becomes the new job's status.
    const publicReply = pressed.action !== 'cancel';
    await interaction.deferReply(publicReply ? {} : { flags: MessageFlags.Ephemeral });
    const live = publicReply ? this.chat.liveReply(interaction) : undefined;
    const responder = new Responder(interaction, publicReply, live);
    await this.chat.handingOver(interaction.id, live && { reply: live }, async () => {
      try {
        const input: ActionInput = {
          ...(pressed.resolution ? { resolution: pressed.resolution } : {}),
          ...(pressed.prompt !== undefined ? { prompt: pressed.prompt } : {}),
        };
        const { text } = await runJobAction(
          pressed.action,
          decision,
          { ...ctx, reply: (t) => responder.reply(t), offer: (o) => responder.offer(o) },
          this.deps,
          input,
        );
        // A Retry's answer is its new status message; a Cancel's is a private note.
        if (!publicReply) await responder.reply(text);
      } catch (error) {
        await responder.reply(describeActionError(error, ctx, this.deps));
      }
    });
    await responder.finish();
  }

  /**
   * A quote's Confirm / Cancel: only its requester may press (refused privately, before acknowledging). Confirm's
   * public reply becomes the new job's status, as Retry's does; the quote message itself is edited to what happened.
   */
  private async quoteButton(interaction: ButtonInteraction, action: QuoteAction, quoteId: string): Promise<void> {
    const ctx = this.contextOf(interaction, new Responder(interaction, false));
    if (!(await passCommunityGate(ctx, this.deps))) return;
    const decision = await authorizeQuoteAction(quoteId, ctx, this.deps);
    if (!decision.ok) {
      this.log.info({ action, quoteId, user: interaction.user.id }, 'quote button press refused');
      await interaction.reply({
        content: decision.text,
        flags: MessageFlags.Ephemeral,
        allowedMentions: { parse: [] },
      });
      return;
    }
    if (action === 'dropquote') {
      const answer = await runQuoteAction(action, decision.quote, ctx, this.deps);
      if (answer.edit)
        await interaction.update({
          content: clip(escapeForDiscord(answer.edit.text), MAX_REPLY),
          components: offerComponents(answer.edit),
          allowedMentions: { parse: [] },
        });
      else
        await interaction.reply({
          content: clip(escapeForDiscord(answer.text), MAX_REPLY),
          flags: MessageFlags.Ephemeral,
          allowedMentions: { parse: [] },
        });
      return;
    }
    await interaction.deferReply();
    const live = this.chat.liveReply(interaction);
    const responder = new Responder(interaction, true, live);
    await this.chat.handingOver(interaction.id, { reply: live }, async () => {
      const answer = await runQuoteAction(
        action,
        decision.quote,
        { ...ctx, reply: (t) => responder.reply(t), offer: (o) => responder.offer(o) },
        this.deps,
      );
      if (answer.edit) {
        await interaction.message
          .edit({
            content: clip(escapeForDiscord(answer.edit.text), MAX_REPLY),
            components: offerComponents(answer.edit),
            allowedMentions: { parse: [] },
          })
          .catch((error: unknown) => this.log.warn({ err: error, quoteId }, 'could not edit the quote message'));
      }
      // A new job's status took the public reply; anything else is said privately.
      if (answer.alert || !live.usedAsStatus) await responder.reply(answer.text);
    });
    await responder.finish();
  }

  // ------------------------------------------------------------------ mention trigger

  /** `@clipbot a fox in the snow --resolution 480p` (+ an image attachment) is `/video` with that text. */
  private async mention(message: Message): Promise<void> {
    const me = this.client.user?.id;
    if (!me || message.author.bot || message.webhookId) return;
    // Only an explicit mention in the text: replies that merely ping the bot, and @everyone, are not requests.
    const mentionPattern = new RegExp(`<@!?${me}>`, 'g');
    if (!mentionPattern.test(message.content)) return;
    const text = message.content.replace(mentionPattern, ' ').replace(/\s+/g, ' ').trim();
    const locale = message.guild?.preferredLocale;
    const reply = async (content: string) => {
      await message.reply({
        content: clip(escapeForDiscord(content), MAX_REPLY),
        allowedMentions: { parse: [], repliedUser: false },
      });
    };
    const parsed = parseCommandText(`/video ${text}`, findCommand);
    if (!parsed.ok) return reply(parsed.error);
    const image = message.attachments.find((a) => a.contentType?.startsWith('image/') ?? false);
    const raw: Record<string, unknown> = {
      ...parsed.raw,
      ...(image && parsed.raw['image'] === undefined ? { image: image.url } : {}),
    };
    const identity: Identity = {
      platform: 'discord',
      platformUserId: message.author.id,
      displayName: message.member?.displayName ?? message.author.displayName,
    };
    const dest: JobDestination = {
      platform: 'discord',
      chatId: message.channelId,
      userId: message.author.id,
      requestMessageId: message.id,
      uploadLimitBytes: null,
    };
    await this.chat.handingOver(message.id, { replyTo: message.id }, () =>
      runCommand(
        parsed.command,
        raw,
        {
          platform: 'discord',
          actor: { ...identity, role: roleOf(identity, this.config.OWNER_IDS, false) },
          dest,
          ...this.communityOf(message.guildId, message.guild),
          ...(locale ? { locale } : {}),
          intakeKey: `discord:${message.channelId}:${message.id}`,
          reply,
          offer: async (offer) => {
            await message.reply({
              content: clip(escapeForDiscord(offer.text), MAX_REPLY),
              components: offerComponents(offer),
              allowedMentions: { parse: [], repliedUser: false },
            });
          },
        },
        this.deps,
      ),
    );
  }

  /** A server is a community: its id, its name, and (LEAVE_UNLISTED) the way out of it. */
  private communityOf(
    guildId: string | null,
    guild: Guild | null,
  ): Pick<CommandContext, 'guildId' | 'communityName' | 'leaveCommunity'> {
    if (!guildId) return {};
    // A server not in the cache (no GUILD_CREATE yet) is left through REST all the same.
    const leave = async () =>
      void (guild ? await guild.leave() : await this.client.rest.delete(Routes.userGuild(guildId)));
    return { guildId, ...(guild ? { communityName: guild.name } : {}), leaveCommunity: leave };
  }
}

/**
 * Answers one interaction. Private (ephemeral) replies edit the deferred reply; a public deferred reply that did
 * not become a job's status is deleted and the answer sent privately instead, so errors are only ever seen by the
 * member they concern.
 */
class Responder {
  private said = false;

  constructor(
    private readonly interaction: RepliableInteraction,
    private readonly publicReply: boolean,
    /** The public reply's hand-over to the job's status (job commands and Retry). */
    private readonly live?: LiveReply,
  ) {}

  async reply(text: string): Promise<void> {
    const body = { content: clip(escapeForDiscord(text), MAX_REPLY), allowedMentions: { parse: [] } };
    if (!this.interaction.deferred && !this.interaction.replied) {
      this.said = true;
      await this.interaction.reply({ ...body, flags: MessageFlags.Ephemeral });
      return;
    }
    if (!this.publicReply && !this.said) {
      this.said = true;
      await this.interaction.editReply(body);
      return;
    }
    if (this.publicReply && !this.said && !this.live?.usedAsStatus)
      await this.interaction.deleteReply().catch(() => {});
    this.said = true;
    await this.interaction.followUp({ ...body, flags: MessageFlags.Ephemeral });
  }

  /** Text with buttons (a quote): in the public reply when it is still free, else as a private follow-up. */
  async offer(offer: Offer): Promise<void> {
    const body = {
      content: clip(escapeForDiscord(offer.text), MAX_REPLY),
      components: offerComponents(offer),
      allowedMentions: { parse: [] },
    };
    if (this.publicReply && !this.said && !this.live?.usedAsStatus) {
      this.said = true;
      await this.interaction.editReply(body);
      return;
    }
    this.said = true;
    await this.interaction.followUp({ ...body, flags: MessageFlags.Ephemeral });
  }

  /** Removes the deferred reply unless something was said in it: the member sees no answer at all. */
  async withdraw(): Promise<void> {
    if (!this.said && !this.live?.usedAsStatus) await this.interaction.deleteReply().catch(() => {});
  }

  /** Nothing was said and no status took the reply over: do not leave "… is thinking" behind. */
  async finish(): Promise<void> {
    if (this.said || this.live?.usedAsStatus) return;
    if (this.publicReply) await this.interaction.deleteReply().catch(() => {});
    else await this.interaction.editReply({ content: say('done', this.interaction.locale) });
  }
}

function identityOf(interaction: RepliableInteraction): Identity {
  const member = interaction.member;
  const nick = member && 'nick' in member && typeof member.nick === 'string' ? member.nick : undefined;
  return {
    platform: 'discord',
    platformUserId: interaction.user.id,
    displayName: nick ?? interaction.user.displayName,
  };
}

function destinationOf(interaction: RepliableInteraction): JobDestination {
  return {
    platform: 'discord',
    chatId: interaction.channelId!,
    userId: interaction.user.id,
    requestMessageId: interaction.id,
    // The largest file this member's server accepts from us, read at intake and stored on the job.
    uploadLimitBytes: interaction.attachmentSizeLimit ?? null,
  };
}

/** The member's permissions in this channel, as Discord computed them for this very interaction. */
function managesServer(interaction: RepliableInteraction): boolean {
  return interaction.inGuild() && (interaction.memberPermissions?.has(PermissionFlagsBits.ManageGuild) ?? false);
}

/** Slash option values as the commands' zod schemas take them: an attachment is its (public CDN) URL. */
function optionValues(interaction: ChatInputCommandInteraction): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const option of interaction.options.data) {
    if (option.type === ApplicationCommandOptionType.Attachment) raw[option.name] = option.attachment?.url;
    else raw[option.name] = option.value;
  }
  return raw;
}
