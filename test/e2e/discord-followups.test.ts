import { afterEach, describe, expect, it } from 'vitest';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { PERMISSIONS, type FakeMessage } from '../fakes/discord.js';
import { DiscordWorld as World, OWNER_ID } from '../helpers/discord-world.js';

/**
 * Upscale and Extend under a delivered Veo 3.1 clip, end to end: discord.js against the fake Discord, the whole bot,
 * the kie.ai simulator behind the real kie adapter. Extend asks for its prompt with a modal.
 */

const buttonIds = (message: FakeMessage) => message.components.flatMap((r) => r.components.map((b) => b.custom_id));
const buttonLabels = (message: FakeMessage) => message.components.flatMap((r) => r.components.map((b) => b.label));
const STARTING = 1000;
/** veo3.1-fast, 8 s: 160 at 720p, 192 at 1080p. */
const VEO_720 = 160;

let world: World | undefined;
let kie: KieSimulator | undefined;
afterEach(async () => {
  await world?.close();
  await kie?.close();
  world = undefined;
  kie = undefined;
});

async function start(): Promise<World> {
  kie = await startKieSimulator({ queueMs: 0, runMs: 200, hdReadyMs: 100 });
  const sim = kie;
  // Quotes (CONFIRM_ABOVE_CREDITS) have tests of their own; here a Veo clip (160 credits) is made at once.
  world = await World.start({ env: () => ({ KIE_API_KEY: sim.apiKey, KIE_BASE_URL: sim.url, STARTING_CREDITS: String(STARTING), CONFIRM_ABOVE_CREDITS: '0' }) });
  return world;
}

describe('follow-ups on Discord', () => {
  it('shows Upscale and Extend under a Veo clip; another member is refused; the requester gets the 1080p copy charged the difference, and a continuation from the modal’s prompt', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    const bob = w.fake.member('Bob');
    w.fake.slash(alice, 'video', { prompt: 'a red fox', model: 'veo3.1-fast' });
    const parent = await w.jobIn('succeeded');
    const result = await w.delivery(alice);
    expect(buttonIds(result)).toEqual([
      `clipbot:retry:${parent.id}`,
      `clipbot:upscale:${parent.id}:1080p`,
      `clipbot:upscale:${parent.id}:4k`,
      `clipbot:extend:${parent.id}`,
    ]);
    // Each follow-up says its price, the one it is then charged.
    expect(buttonLabels(result)).toEqual(['Retry', 'Upscale to 1080P · 32 credits', 'Upscale to 4K · 320 credits', `Extend · ${VEO_720} credits`]);

    // Bob may not spend Alice's credits, nor his own on her clip.
    const refused = w.fake.press(bob, result, `clipbot:upscale:${parent.id}:1080p`);
    expect(await w.privateReply(refused)).toBe('Only the person who asked for this video can extend or upscale it (it is charged to them).');
    const refusedExtend = w.fake.press(bob, result, `clipbot:extend:${parent.id}`);
    expect(await w.privateReply(refusedExtend)).toMatch(/^Only the person who asked/);
    expect(refusedExtend.callbacks.map((c) => c.type)).not.toContain(9);
    // Nor may a moderator of this server or an owner: it would be charged to Alice.
    const moderator = w.fake.member('Mod', { permissions: PERMISSIONS.ManageGuild | PERMISSIONS.ViewChannel });
    const owner = w.fake.member('Owner', { id: OWNER_ID });
    for (const presser of [moderator, owner]) {
      const press = w.fake.press(presser, result, `clipbot:upscale:${parent.id}:4k`);
      expect(await w.privateReply(press)).toMatch(/^Only the person who asked/);
    }
    expect(await w.jobs()).toHaveLength(1);
    expect(await w.balance(bob)).toBe(STARTING);
    expect(await w.balance(alice)).toBe(STARTING - VEO_720);

    const extend = w.fake.press(alice, result, `clipbot:extend:${parent.id}`);
    await w.fake.waitFor('the Extend modal', () => extend.callbacks.some((c) => c.type === 9));
    const submitted = w.fake.submitModal(alice, extend, { prompt: 'the fox dives into a river' });
    await w.status(submitted, `Cost: ${VEO_720} credits`);
    const more = await w.jobIn('final', 1);
    expect(more).toMatchObject({ status: 'succeeded', parentJobId: parent.id, followup: 'extend', prompt: 'the fox dives into a river' });
    expect(kie!.request(more.providerTaskId!)).toMatchObject({ extendOf: parent.providerTaskId });
    await w.fake.waitFor('the continuation delivered', () => w.deliveries(alice).length === 2);

    const upscale = w.fake.press(alice, result, `clipbot:upscale:${parent.id}:1080p`);
    await w.status(upscale, 'Cost: 32 credits');
    const up = await w.jobIn('succeeded', 2);
    expect(up).toMatchObject({ parentJobId: parent.id, followup: 'upscale', price: 32 });
    expect(up.resultUrl).toBe(`${kie!.url}/files/${parent.providerTaskId}/output-1080p.mp4`);
    await w.fake.waitFor('the upscaled delivery', () => w.deliveries(alice).length === 3);
    // The 1080p copy offers Retry only.
    expect(buttonIds(w.deliveries(alice)[2]!)).toEqual([`clipbot:retry:${up.id}`]);

    // kie will not extend a clip once upscaled: refused before anything is charged.
    const late = w.fake.press(alice, result, `clipbot:extend:${parent.id}`);
    await w.fake.waitFor('the Extend modal', () => late.callbacks.some((c) => c.type === 9));
    const refusedLate = w.fake.submitModal(alice, late, { prompt: 'and again' });
    expect(await w.privateReply(refusedLate)).toMatch(/cannot extend a video once it was upscaled/);
    expect(await w.jobs()).toHaveLength(3);

    expect(await w.balance(alice)).toBe(STARTING - VEO_720 - 32 - VEO_720);
    await w.expectLedgerBalanced();
  });

  it('shows no follow-up buttons under a clip whose model offers none', async () => {
    const w = await start();
    const alice = w.fake.member('Alice');
    w.fake.slash(alice, 'video', { prompt: 'a red fox', resolution: '480p' });
    const job = await w.jobIn('succeeded');
    expect(buttonIds(await w.delivery(alice))).toEqual([`clipbot:retry:${job.id}`]);
  });
});
