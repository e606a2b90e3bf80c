import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Job } from '../../db/schema.js';
import {
  startDiscordDriver,
  startTelegramDriver,
  type AuthorityDriver,
  type Community,
  type OptionValue,
  type Person,
  type Place,
  type VideoOutcome,
} from '../helpers/authority-driver.js';
import { PRICE, STARTING } from '../helpers/discord-world.js';

/**
 * The authorization matrix of design.md §9, on Discord (discord.js) and Telegram (grammY) against the fakes: every
 * moderator/owner command and both job buttons × who acts × whether the request it touches was made in the
 * community where the command is given (A, "inside") or in another one (B, "outside"). Each row asserts the answer
 * AND the effect: balances, budgets, job states, and, for bans, quotas, blocklist terms and settings, what happens
 * to a later /video of the target in A and in B.
 *
 * Discord's second community is a second server added to the fake (`FakeDiscord.addGuild`), so both platforms run
 * the very same rows. Rows share one world per platform and never disturb each other: every row has its own
 * targets, jobs and blocklist term, and /settings rows put the setting back.
 */

type Actor = 'member' | 'modA' | 'modB' | 'owner' | 'private' | 'anonymous' | 'demoted';
const ACTORS: readonly Actor[] = ['member', 'modA', 'modB', 'owner', 'private', 'anonymous', 'demoted'];
const ACTOR_LABEL: Record<Actor, string> = {
  member: 'a member of A',
  modA: 'a moderator of A',
  modB: 'a moderator of B (a member in A)',
  owner: 'the owner',
  private: 'a moderator of A in a private chat',
  anonymous: 'an anonymous admin of A (Telegram)',
  demoted: 'an admin of A demoted a moment ago',
};

/**
 * What a cell expects. `all`: applies to requests everywhere; `here`: only to requests made in A (where it was
 * given); anything else is a refusal, by its reason: the actor is told so and nothing changes.
 */
type Refusal =
  | 'mod_only'
  | 'owner_only'
  | 'owner_budget'
  | 'owner_take'
  | 'no_job'
  | 'other_community'
  | 'not_yours'
  | 'retry_not_yours';
type Effect = 'all' | 'here' | Refusal;
/** For commands on one job: [the job was made in A, the job was made in B]. */
type JobCell = readonly [Effect, Effect];

// Which refusal a non-moderator gets is the same for every moderator command; `private` and `anonymous` are
// resolved per platform (Discord refuses moderator commands in DMs before anything else; Telegram tells an
// anonymous admin it cannot tell who they are).
const MOD: Effect = 'mod_only';
/** A cell that does not exist on the platform (see `exists`): never run. */
const NA: Effect = 'mod_only';

//                               member      modA             modB         owner     private      anonymous     demoted
const USER_COMMANDS = {
  'credits grant': [MOD, 'here', MOD, 'all', MOD, MOD, MOD],
  'credits take': [MOD, 'owner_take', MOD, 'all', MOD, MOD, MOD],
  ban: [MOD, 'here', MOD, 'all', MOD, MOD, MOD],
  unban: [MOD, 'here', MOD, 'here', MOD, MOD, MOD],
  quota: [MOD, 'here', MOD, 'all', MOD, MOD, MOD],
  'blocklist add': [MOD, 'here', MOD, 'all', MOD, MOD, MOD],
  settings: [MOD, 'here', MOD, 'here', MOD, MOD, MOD],
  stats: [MOD, 'here', MOD, 'all', MOD, MOD, MOD],
  'budget give': [MOD, 'owner_budget', MOD, 'all', MOD, MOD, MOD],
  communities: ['owner_only', 'owner_only', 'owner_only', 'all', 'owner_only', 'owner_only', 'owner_only'],
} as const satisfies Record<string, readonly Effect[]>;

//                               member                    modA                        modB                        owner           private                   anonymous     demoted
const JOB_COMMANDS = {
  cancel: [
    ['no_job', 'no_job'],
    ['all', 'no_job'],
    ['no_job', 'no_job'],
    ['all', 'all'],
    ['no_job', 'no_job'],
    [MOD, MOD],
    ['no_job', 'no_job'],
  ],
  refund: [
    [MOD, MOD],
    ['all', 'other_community'],
    [MOD, MOD],
    ['all', 'all'],
    [MOD, MOD],
    [MOD, MOD],
    [MOD, MOD],
  ],
  // Buttons are pressed where the job's message is: in A for a job made in A, in B for one made in B.
  'Cancel button': [
    ['not_yours', 'not_yours'],
    ['all', 'not_yours'],
    ['not_yours', 'all'],
    ['all', 'all'],
    ['not_yours', 'not_yours'],
    [NA, NA],
    ['not_yours', 'not_yours'],
  ],
  'Retry button': [
    ['retry_not_yours', 'retry_not_yours'],
    ['retry_not_yours', 'retry_not_yours'],
    ['retry_not_yours', 'retry_not_yours'],
    ['retry_not_yours', 'retry_not_yours'],
    ['retry_not_yours', 'retry_not_yours'],
    [NA, NA],
    ['retry_not_yours', 'retry_not_yours'],
  ],
} as const satisfies Record<string, readonly JobCell[]>;

const ANONYMOUS_TEXT =
  'You are posting anonymously as the group, so I cannot tell who you are. Turn off “Remain anonymous” in your administrator rights (or message me directly) to use me.';

let counter = 0;
/** Unique words, so every row's prompts, terms and jobs are its own (letters only: the blocklist reads digits as letters). */
const fresh = (word: string) =>
  `${word}${(++counter).toString(26).replace(/./g, (ch) => String.fromCharCode(97 + parseInt(ch, 26)))}`;

interface Cast {
  d: AuthorityDriver;
  /** Moderates A and B; sets up the rows' preconditions (bans to lift, settings to restore). */
  keeper: Person;
  people: Record<Exclude<Actor, 'owner' | 'anonymous'>, Person>;
}

async function castOf(d: AuthorityDriver): Promise<Cast> {
  const keeper = d.person('Kim', ['A', 'B']);
  const people = {
    member: d.person('Mia'),
    modA: d.person('Ada', ['A']),
    modB: d.person('Ben', ['B']),
    private: d.person('Pat', ['A']),
    demoted: d.person('Dan', ['A']),
  };
  // Budgets out of which moderators grant; the owner funds them from A (B's named explicitly).
  expect(await d.command(d.owner, 'A', 'budget', { action: 'give', amount: 100 })).toBe(
    `Gave 100 credits to the budget of ${d.community('A')}. Left: 100.`,
  );
  expect(await d.command(d.owner, 'A', 'budget', { action: 'give', amount: 100, community: d.community('B') })).toBe(
    `Gave 100 credits to the budget of ${d.community('B')}. Left: 100.`,
  );
  // Dan was an admin of A a moment ago (his /stats worked); then he was demoted.
  expect(await d.command(people.demoted, 'A', 'stats')).toMatch(/^This community/);
  d.setModerator(people.demoted, 'A', false);
  return { d, keeper, people };
}

/** The refusal text an actor sees, as each platform words it. */
function refusalText(d: AuthorityDriver, actor: Actor, reason: Refusal, command: string, job?: Job): string {
  if (actor === 'anonymous') return ANONYMOUS_TEXT;
  const name = command.split(' ')[0]!;
  if (actor === 'private' && d.platform === 'discord' && !['cancel', 'Cancel', 'Retry'].includes(name)) {
    return `/${name} works only in a server, where your Manage Server permission can be checked.`;
  }
  switch (reason) {
    case 'mod_only':
      return `/${name} is for moderators and the bot owner.`;
    case 'owner_only':
      return `/${name} is for the bot owner.`;
    case 'owner_budget':
      return 'Only the bot owner can change a community budget.';
    case 'owner_take':
      return 'Only the bot owner can take credits away.';
    case 'no_job':
      return `You have no job ${job!.id}.`;
    case 'other_community':
      return `Job ${job!.id} was not made in this community.`;
    case 'not_yours':
      return 'Only the person who asked for this video (or a moderator) can do that.';
    case 'retry_not_yours':
      return 'Only the person who asked for this video can retry it.';
  }
}

/**
 * The cells that exist on a platform: Discord has no anonymous admins; a button press always carries the real user
 * (no anonymous presses); and Discord checks a button's custom_id against the message, so nobody can press Cancel
 * on A's job from a DM (on Telegram a modified client can send any callback data from anywhere).
 */
function exists(platform: 'Telegram' | 'Discord', command: string, actor: Actor): boolean {
  if (actor === 'anonymous') return platform === 'Telegram' && !command.endsWith('button');
  if (actor === 'private' && command.endsWith('button')) return platform === 'Telegram';
  return true;
}

function cellsOf<T>(platform: 'Telegram' | 'Discord', table: Record<string, readonly T[]>): [string, Actor, T][] {
  return Object.entries(table).flatMap(([command, cells]) =>
    ACTORS.map((actor, i) => [command, actor, cells[i]!] as [string, Actor, T]).filter(([, actor]) =>
      exists(platform, command, actor),
    ),
  );
}

/** Gives the command as `actor` would: in A, or in their private chat, or anonymously. */
function give(c: Cast, actor: Actor, name: string, options: Record<string, OptionValue> = {}): Promise<string> {
  const { d } = c;
  if (actor === 'anonymous') return d.anonymousCommand!('A', name, options);
  if (actor === 'owner') return d.command(d.owner, 'A', name, options);
  const place: Place = actor === 'private' ? 'dm' : 'A';
  return d.command(c.people[actor], place, name, options);
}

const accepted = (o: VideoOutcome) => ('job' in o ? 'accepted' : o.refused);

/** A job of `owner` made in `place` that stays in progress until someone cancels it. */
async function runningJob(d: AuthorityDriver, owner: Person, place: Community): Promise<Job> {
  const made = await d.video(owner, place, fresh('[sim:hang] a heron in the reeds '));
  if (!('job' in made)) throw new Error(`the job was refused: ${made.refused}`);
  await expect.poll(async () => (await d.job(made.job.id)).status, { timeout: 10_000, interval: 20 }).toBe('running');
  return d.job(made.job.id);
}

async function succeededJob(d: AuthorityDriver, owner: Person, place: Community): Promise<Job> {
  const made = await d.video(owner, place, fresh('a heron in the reeds '));
  if (!('job' in made)) throw new Error(`the job was refused: ${made.refused}`);
  await expect.poll(async () => (await d.job(made.job.id)).status, { timeout: 10_000, interval: 20 }).toBe('succeeded');
  return d.job(made.job.id);
}

// ---------------------------------------------------------------------------------------------------- rows

/** One row of a command on users or communities: give it, then check the answer and what it changed. */
async function userCommandRow(
  c: Cast,
  command: keyof typeof USER_COMMANDS,
  actor: Actor,
  effect: Effect,
): Promise<void> {
  const { d } = c;
  const refused = effect !== 'all' && effect !== 'here' ? refusalText(d, actor, effect, command) : undefined;
  const target = d.person(fresh('Tia'));
  const budgets = { A: await d.budget('A'), B: await d.budget('B') };
  /** The target's (or a bystander's) next /video in A and in B: 'accepted' or the refusal. */
  const probe = async (who: Person, prompt = 'a heron in the reeds') => ({
    A: accepted(await d.video(who, 'A', fresh(`${prompt} `))),
    B: accepted(await d.video(who, 'B', fresh(`${prompt} `))),
  });

  switch (command) {
    case 'credits grant': {
      const reply = await give(c, actor, 'credits', { action: 'grant', user: target, amount: 5 });
      if (refused) {
        expect(reply).toBe(refused);
        expect(await d.balance(target)).toBe(STARTING);
        expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual(budgets);
      } else if (effect === 'here') {
        expect(reply).toMatch(
          new RegExp(
            `^Gave 5 credits to .+ from this community's budget \\(${budgets.A - 5} left\\)\\. New balance: ${STARTING + 5}\\.$`,
          ),
        );
        expect(await d.balance(target)).toBe(STARTING + 5);
        // Out of A's budget, never out of B's, and no credit is created.
        expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual({ A: budgets.A - 5, B: budgets.B });
      } else {
        expect(reply).toMatch(new RegExp(`^Gave 5 credits to .+\\. New balance: ${STARTING + 5}\\.$`));
        expect(await d.balance(target)).toBe(STARTING + 5);
        expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual(budgets);
      }
      return;
    }
    case 'credits take': {
      const reply = await give(c, actor, 'credits', { action: 'take', user: target, amount: 5 });
      if (refused) {
        expect(reply).toBe(refused);
        expect(await d.balance(target)).toBe(STARTING);
      } else {
        expect(reply).toMatch(new RegExp(`^Took 5 credits from .+\\. New balance: ${STARTING - 5}\\.$`));
        expect(await d.balance(target)).toBe(STARTING - 5);
      }
      expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual(budgets);
      return;
    }
    case 'ban': {
      const reply = await give(c, actor, 'ban', { user: target, reason: 'spam' });
      const after = await probe(target);
      if (refused) {
        expect(reply).toBe(refused);
        expect(after).toEqual({ A: 'accepted', B: 'accepted' });
      } else if (effect === 'here') {
        expect(reply).toMatch(/ is banned in this community: spam\.$/);
        expect(after).toEqual({ A: 'You are banned from making videos here: spam', B: 'accepted' });
      } else {
        expect(reply).toMatch(/ is banned everywhere: spam\.$/);
        expect(after).toEqual({
          A: 'You are banned from using this bot: spam',
          B: 'You are banned from using this bot: spam',
        });
      }
      return;
    }
    case 'unban': {
      // Banned in A by A's moderators and in B by B's.
      expect(await c.d.command(c.keeper, 'A', 'ban', { user: target, reason: 'spam' })).toMatch(
        /banned in this community/,
      );
      expect(await c.d.command(c.keeper, 'B', 'ban', { user: target, reason: 'spam' })).toMatch(
        /banned in this community/,
      );
      const reply = await give(c, actor, 'unban', { user: target });
      const after = await probe(target);
      const bannedHere = 'You are banned from making videos here: spam';
      if (refused) {
        expect(reply).toBe(refused);
        expect(after).toEqual({ A: bannedHere, B: bannedHere });
      } else {
        expect(reply).toMatch(
          actor === 'owner' ? / may generate videos again\.$/ : / may generate videos in this community again\.$/,
        );
        // Lifted in A, where it was given; B's own ban stays (an owner lifts it in B).
        expect(after).toEqual({ A: 'accepted', B: bannedHere });
      }
      return;
    }
    case 'quota': {
      const reply = await give(c, actor, 'quota', { user: target, daily_jobs: 0 });
      const after = await probe(target);
      if (refused) {
        expect(reply).toBe(refused);
        expect(after).toEqual({ A: 'accepted', B: 'accepted' });
      } else if (effect === 'here') {
        expect(reply).toMatch(/ may now make 0 videos a day here\.$/);
        expect(after).toEqual({ A: 'You may not make videos here.', B: 'accepted' });
      } else {
        expect(reply).toMatch(/ may now make 0 videos a day\.$/);
        expect(after).toEqual({
          A: 'Video generation is not enabled for your account.',
          B: 'Video generation is not enabled for your account.',
        });
      }
      return;
    }
    case 'blocklist add': {
      const term = fresh('zebracorn');
      const reply = await give(c, actor, 'blocklist', { action: 'add', term });
      const after = await probe(target, `a ${term} in the reeds`);
      const blocked = expect.stringMatching(/blocked|not allowed|refused/i);
      if (refused) {
        expect(reply).toBe(refused);
        expect(after).toEqual({ A: 'accepted', B: 'accepted' });
      } else if (effect === 'here') {
        expect(reply).toBe(`Prompts containing “${term}” (in any spelling) are now refused in this community.`);
        expect(after).toEqual({ A: blocked, B: 'accepted' });
      } else {
        expect(reply).toBe(`Prompts containing “${term}” (in any spelling) are now refused everywhere.`);
        expect(after).toEqual({ A: blocked, B: blocked });
      }
      return;
    }
    case 'settings': {
      try {
        const reply = await give(c, actor, 'settings', { daily_quota: 0 });
        const after = await probe(target);
        if (refused) {
          expect(reply).toBe(refused);
          expect(after).toEqual({ A: 'accepted', B: 'accepted' });
        } else {
          expect(reply).toMatch(/^Settings saved:\n[\s\S]*daily videos per member: 0$/);
          // A community's settings are its own, whoever changes them.
          expect(after).toEqual({ A: 'You may not make videos here.', B: 'accepted' });
        }
      } finally {
        expect(await c.d.command(c.keeper, 'A', 'settings', { daily_quota: 'default' })).toMatch(
          /daily videos per member: no extra limit$/,
        );
      }
      return;
    }
    case 'stats': {
      const reply = await give(c, actor, 'stats');
      const jobs = await d.jobs();
      const inA = jobs.filter((j) => `${d.platform}:${j.guildId}` === d.community('A'));
      // B has jobs of its own, which A's moderators must not see.
      expect(jobs.some((j) => `${d.platform}:${j.guildId}` === d.community('B'))).toBe(true);
      if (refused) {
        expect(reply).toBe(refused);
        return;
      }
      // "Jobs: succeeded 3, running 2": the jobs these figures cover.
      const jobsLine = reply.split('\n').find((l) => l.startsWith('Jobs: '))!;
      const counted = [...jobsLine.matchAll(/[a-z]+ (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
      if (effect === 'here') {
        expect(reply.split('\n')[0]).toBe(`This community (${d.community('A')}):`);
        expect(counted).toBe(inA.length);
        expect(reply).toContain(`Budget left to grant: ${await d.budget('A')} credits`);
      } else {
        expect(reply.split('\n')[0]).toBe('Everywhere:');
        expect(counted).toBe(jobs.length);
      }
      return;
    }
    case 'budget give': {
      const here = await give(c, actor, 'budget', { action: 'give', amount: 10 });
      const there = await give(c, actor, 'budget', { action: 'give', amount: 10, community: d.community('B') });
      if (refused) {
        expect([here, there]).toEqual([refused, refused]);
        expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual(budgets);
      } else {
        expect(here).toBe(`Gave 10 credits to the budget of ${d.community('A')}. Left: ${budgets.A + 10}.`);
        expect(there).toBe(`Gave 10 credits to the budget of ${d.community('B')}. Left: ${budgets.B + 10}.`);
        expect({ A: await d.budget('A'), B: await d.budget('B') }).toEqual({ A: budgets.A + 10, B: budgets.B + 10 });
      }
      return;
    }
    case 'communities': {
      const reply = await give(c, actor, 'communities');
      if (refused) {
        expect(reply).toBe(refused);
        return;
      }
      const lines = reply.split('\n');
      for (const place of ['A', 'B'] as const) {
        expect(
          lines.some(
            (l) => l.includes(`(${d.community(place)}): `) && / members served, \d+ credits spent, budget \d+/.test(l),
          ),
        ).toBe(true);
      }
      return;
    }
  }
}

/** One row of a command or button on one job: made in A (inside) or in B (outside). */
async function jobCommandRow(
  c: Cast,
  command: keyof typeof JOB_COMMANDS,
  actor: Actor,
  place: Community,
  effect: Effect,
): Promise<void> {
  const { d } = c;
  const requester = d.person(fresh('Rae'));
  const job =
    command === 'cancel' || command === 'Cancel button'
      ? await runningJob(d, requester, place)
      : await succeededJob(d, requester, place);
  const before = { balance: await d.balance(requester), jobs: (await d.jobs()).length, status: job.status };
  const refused = effect !== 'all' && effect !== 'here' ? refusalText(d, actor, effect, command, job) : undefined;

  let reply: string;
  if (command === 'cancel') reply = await give(c, actor, 'cancel', { job: job.id });
  else if (command === 'refund') reply = await give(c, actor, 'refund', { job: job.id, reason: 'unusable' });
  else {
    const action = command === 'Cancel button' ? 'cancel' : 'retry';
    const presser = actor === 'owner' ? d.owner : c.people[actor as Exclude<Actor, 'owner' | 'anonymous'>];
    // In a private chat there is no button of A's or B's jobs: a modified client sends the data from there.
    reply =
      actor === 'private' ? await d.forgedPress!(presser, 'dm', job, action) : await d.press(presser, job, action);
  }

  if (refused) {
    expect(reply).toBe(refused);
    expect((await d.job(job.id)).status).toBe(before.status);
    expect(await d.balance(requester)).toBe(before.balance);
    expect((await d.jobs()).length).toBe(before.jobs);
    return;
  }
  if (command === 'cancel' || command === 'Cancel button') {
    expect(reply).toBe(
      command === 'cancel'
        ? `Cancelled job ${job.id}; ${PRICE} credits are back in its owner’s balance.`
        : 'Cancelled; the credits went back to the member who asked for it.',
    );
    await expect.poll(async () => (await d.job(job.id)).status, { timeout: 5000, interval: 20 }).toBe('cancelled');
    expect(await d.balance(requester)).toBe(STARTING);
  } else {
    expect(reply).toMatch(new RegExp(`^Refunded ${PRICE} credits for job ${job.id} to `));
    expect(await d.balance(requester)).toBe(before.balance + PRICE);
  }
}

// ---------------------------------------------------------------------------------------------------- the matrix

describe.each([
  ['Telegram', startTelegramDriver],
  ['Discord', startDiscordDriver],
] as const)('the authorization matrix on %s', (platform, start) => {
  let cast: Cast;
  beforeAll(async () => {
    cast = await castOf(await start());
  }, 60_000);
  afterAll(async () => {
    await cast?.d.close();
  });

  describe('commands on users and communities (effects checked on requests made in A and in B)', () => {
    it.each(
      cellsOf<Effect>(platform, USER_COMMANDS).map(
        ([command, actor, effect]) => [command, ACTOR_LABEL[actor], effect, actor] as const,
      ),
    )(
      '/%s by %s: %s',
      async (command, _label, effect, actor) => {
        await userCommandRow(cast, command as keyof typeof USER_COMMANDS, actor, effect);
      },
      30_000,
    );
  });

  describe('commands and buttons on one job, made in A (inside) or in B (outside)', () => {
    const rows = cellsOf<JobCell>(platform, JOB_COMMANDS).flatMap(([command, actor, [inside, outside]]) => [
      [command, ACTOR_LABEL[actor], 'A', inside, actor] as const,
      [command, ACTOR_LABEL[actor], 'B', outside, actor] as const,
    ]);
    it.each(rows)(
      '%s by %s on a job made in %s: %s',
      async (command, _label, place, effect, actor) => {
        await jobCommandRow(cast, command as keyof typeof JOB_COMMANDS, actor, place, effect);
      },
      30_000,
    );
  });
});

// ---------------------------------------------------------------------------------------------------- beyond the grid

describe.each([
  ['Telegram', startTelegramDriver],
  ['Discord', startDiscordDriver],
] as const)('authority that stays in its community, on %s', (platform, start) => {
  let cast: Cast;
  beforeAll(async () => {
    cast = await castOf(await start());
  }, 60_000);
  afterAll(async () => {
    await cast?.d.close();
  });

  it('a member who creates her own server or group and runs the moderator commands there changes nothing outside it', async () => {
    const { d } = cast;
    const eve = d.person('Eve', ['E']);
    const victim = d.person(fresh('Val'));
    const jobInA = await runningJob(d, victim, 'A');
    const doneInA = await succeededJob(d, d.person(fresh('Rae')), 'A');
    const before = {
      eve: await d.balance(eve),
      victim: await d.balance(victim),
      doneOwner: (await d.jobs()).length,
      budgets: { A: await d.budget('A'), B: await d.budget('B'), E: await d.budget('E') },
    };

    // Her server has no budget: she cannot mint credits for herself or anyone.
    expect(await d.command(eve, 'E', 'credits', { action: 'grant', user: eve, amount: 500 })).toBe(
      "This community's budget has 0 credits left; ask the bot owner for more.",
    );
    expect(await d.command(eve, 'E', 'credits', { action: 'grant', user: victim, amount: 1 })).toBe(
      "This community's budget has 0 credits left; ask the bot owner for more.",
    );
    expect(await d.command(eve, 'E', 'credits', { action: 'take', user: victim, amount: 1 })).toBe(
      'Only the bot owner can take credits away.',
    );
    expect(await d.command(eve, 'E', 'budget', { action: 'give', amount: 500 })).toBe(
      'Only the bot owner can change a community budget.',
    );
    // Her ban and quota hold in her server only.
    expect(await d.command(eve, 'E', 'ban', { user: victim, reason: 'mine' })).toMatch(
      / is banned in this community: mine\.$/,
    );
    expect(await d.command(eve, 'E', 'quota', { user: victim, daily_jobs: 0 })).toMatch(
      / may now make 0 videos a day here\.$/,
    );
    // Jobs made elsewhere are out of her reach.
    expect(await d.command(eve, 'E', 'cancel', { job: jobInA.id })).toBe(`You have no job ${jobInA.id}.`);
    expect(await d.command(eve, 'E', 'refund', { job: doneInA.id })).toBe(
      `Job ${doneInA.id} was not made in this community.`,
    );
    // Her /stats counts only her server, which has no jobs.
    expect((await d.command(eve, 'E', 'stats')).split('\n').slice(0, 2)).toEqual([
      `This community (${d.community('E')}):`,
      'Jobs: none',
    ]);

    expect(await d.balance(eve)).toBe(before.eve);
    expect((await d.job(jobInA.id)).status).toBe('running');
    expect(await d.balance(victim)).toBe(before.victim);
    expect({ A: await d.budget('A'), B: await d.budget('B'), E: await d.budget('E') }).toEqual(before.budgets);
    const inA = await d.video(victim, 'A', fresh('a heron in the reeds '));
    const inE = await d.video(victim, 'E', fresh('a heron in the reeds '));
    expect('job' in inA).toBe(true);
    expect(inE).toEqual({ refused: 'You are banned from making videos here: mine' });
  }, 60_000);

  it('a moderator grants out of the budget and no further; the owner fills it', async () => {
    const { d, people } = cast;
    const target = d.person(fresh('Tia'));
    const left = await d.budget('A');
    expect(await d.command(people.modA, 'A', 'credits', { action: 'grant', user: target, amount: left + 1 })).toBe(
      `This community's budget has ${left} credits left; ask the bot owner for more.`,
    );
    expect(await d.balance(target)).toBe(STARTING);
    expect(await d.budget('A')).toBe(left);
    expect(await d.command(d.owner, 'A', 'budget', { action: 'give', amount: 1 })).toBe(
      `Gave 1 credits to the budget of ${d.community('A')}. Left: ${left + 1}.`,
    );
    expect(await d.command(people.modA, 'A', 'credits', { action: 'grant', user: target, amount: left + 1 })).toMatch(
      /\(0 left\)\. New balance: /,
    );
    expect(await d.balance(target)).toBe(STARTING + left + 1);
    expect(await d.budget('A')).toBe(0);
  }, 30_000);

  it('only the requester may retry; their Retry makes a new job charged to them', async () => {
    const { d } = cast;
    const requester = d.person(fresh('Rae'));
    const done = await succeededJob(d, requester, 'B');
    const jobsBefore = (await d.jobs()).length;
    await d.press(requester, done, 'retry');
    await expect.poll(async () => (await d.jobs()).length, { timeout: 5000, interval: 20 }).toBe(jobsBefore + 1);
    const retried = (await d.jobs()).at(-1)!;
    expect(retried).toMatchObject({ prompt: done.prompt, guildId: done.guildId });
    expect(await d.balance(requester)).toBe(STARTING - 2 * PRICE);
  }, 30_000);

  it.runIf(platform === 'Telegram')(
    'a moderator of A who sends Cancel for a job of B from A (a modified client) is refused and the job goes on',
    async () => {
      const { d, people } = cast;
      const requester = d.person(fresh('Rae'));
      const job = await runningJob(d, requester, 'B');
      expect(await d.forgedPress!(people.modA, 'A', job, 'cancel')).toBe(
        'Only the person who asked for this video (or a moderator) can do that.',
      );
      expect((await d.job(job.id)).status).toBe('running');
      expect(await d.balance(requester)).toBe(STARTING - PRICE);
    },
    30_000,
  );
});
