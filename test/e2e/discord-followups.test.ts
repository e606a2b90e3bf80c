import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FAL_SIM_MARKERS } from '../../src/sim/fal.js';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import { PERMISSIONS, type FakeMember, type FakeMessage } from '../fakes/discord.js';
import { buttonIds, DiscordWorld as World, OWNER_ID } from '../helpers/discord-world.js';
import { lastFrameTheSlowWay, pngOfDataUri, pngSize } from '../helpers/png.js';

/**
 * Upscale and Extend under a delivered clip, end to end: discord.js against the fake Discord, the whole bot, the
 * kie.ai simulator behind the real kie adapter (Veo 3.1) and the fal simulator (Seedance, extended from the last
 * frame of our stored clip). Extend asks for its prompt with a modal.
 */

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

/** By default every job is made at once (CONFIRM_ABOVE_CREDITS=0); `confirmAbove` quotes what costs more. */
async function start(confirmAbove = 0): Promise<World> {
  kie = await startKieSimulator({ queueMs: 0, runMs: 200, hdReadyMs: 100, uhdReadyMs: 100 });
  const sim = kie;
  world = await World.start({
    env: () => ({
      KIE_API_KEY: sim.apiKey,
      KIE_BASE_URL: sim.url,
      STARTING_CREDITS: String(STARTING),
      CONFIRM_ABOVE_CREDITS: String(confirmAbove),
    }),
  });
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
    expect(buttonLabels(result)).toEqual([
      'Retry',
      'Upscale to 1080P · 32 credits',
      'Upscale to 4K · 320 credits',
      `Extend · ${VEO_720} credits`,
    ]);

    // Bob may not spend Alice's credits, nor his own on her clip.
    const refused = w.fake.press(bob, result, `clipbot:upscale:${parent.id}:1080p`);
    expect(await w.privateReply(refused)).toBe(
      'Only the person who asked for this video can extend or upscale it (it is charged to them).',
    );
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
    expect(more).toMatchObject({
      status: 'succeeded',
      parentJobId: parent.id,
      followup: 'extend',
      prompt: 'the fox dives into a river',
    });
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

  it('above CONFIRM_ABOVE_CREDITS quotes a follow-up at its button’s price: Cancel charges nothing, Confirm pressed twice charges it once', async () => {
    // 100: the Veo clip (160) and its Extend (160) and 4K (320) are quoted; 1080p (32) is made at once.
    const w = await start(100);
    const alice = w.fake.member('Alice');
    const asked = await w.quoteOf(w.fake.slash(alice, 'video', { prompt: 'a red fox', model: 'veo3.1-fast' }));
    w.fake.press(alice, asked.message, asked.confirm);
    const parent = await w.jobIn('succeeded');
    const result = await w.delivery(alice);
    expect(buttonLabels(result)).toEqual([
      'Retry',
      'Upscale to 1080P · 32 credits',
      'Upscale to 4K · 320 credits',
      `Extend · ${VEO_720} credits`,
    ]);

    const fourK = await w.quoteOf(w.fake.press(alice, result, `clipbot:upscale:${parent.id}:4k`));
    expect(fourK.message.content).toMatch(/^Upscaling this video to 4k costs 320 credits/);
    w.fake.press(alice, fourK.message, fourK.cancel);
    await w.fake.waitFor('the quote cancelled', () =>
      w.fake.message(fourK.message.id)!.content === 'Cancelled; nothing was charged.' ? true : undefined,
    );
    expect(await w.jobs()).toHaveLength(1);
    expect(await w.balance(alice)).toBe(STARTING - VEO_720);

    const extend = w.fake.press(alice, result, `clipbot:extend:${parent.id}`);
    await w.fake.waitFor('the Extend modal', () => extend.callbacks.some((c) => c.type === 9));
    const more = await w.quoteOf(w.fake.submitModal(alice, extend, { prompt: 'the fox dives into a river' }));
    expect(more.message.content).toMatch(new RegExp(`^Extending this video costs ${VEO_720} credits`));
    expect(await w.jobs()).toHaveLength(1);
    const first = w.fake.press(alice, more.message, more.confirm);
    const second = w.fake.press(alice, more.message, more.confirm);
    const extended = await w.jobIn('succeeded', 1);
    expect(extended).toMatchObject({
      parentJobId: parent.id,
      followup: 'extend',
      prompt: 'the fox dives into a river',
      price: VEO_720,
    });
    const answers = await Promise.all(
      [first, second].map((p) =>
        w.fake.waitFor('an answer', () => w.fake.original(p)?.content || w.fake.followUps(p)[0]?.content || undefined),
      ),
    );
    expect(answers.filter((a) => a === `Already confirmed as job ${extended.id}.`)).toHaveLength(1);

    const hd = w.fake.press(alice, result, `clipbot:upscale:${parent.id}:1080p`);
    await w.status(hd, 'Cost: 32 credits');
    await w.jobIn('succeeded', 2);
    expect(await w.jobs()).toHaveLength(3);
    expect(await w.balance(alice)).toBe(STARTING - VEO_720 - VEO_720 - 32);
    await w.expectLedgerBalanced();
  });

  describe('when the clip is a fal Seedance clip (fal has no extend call)', () => {
    /** seedance-1-pro at 480p, 5 s. */
    const SEEDANCE_480 = 40;

    async function deliveredSeedance(w: World, alice: FakeMember) {
      w.fake.slash(alice, 'video', { prompt: 'a red fox', model: 'seedance-1-pro', resolution: '480p' });
      const parent = await w.jobIn('succeeded');
      const result = await w.delivery(alice);
      expect(buttonIds(result)).toEqual([`clipbot:retry:${parent.id}`, `clipbot:extend:${parent.id}`]);
      return { parent, result };
    }

    async function extendFromModal(w: World, alice: FakeMember, result: FakeMessage, parentId: string, prompt: string) {
      const press = w.fake.press(alice, result, `clipbot:extend:${parentId}`);
      await w.fake.waitFor('the Extend modal', () => press.callbacks.some((c) => c.type === 9));
      return w.fake.submitModal(alice, press, { prompt });
    }

    it('sends fal image-to-video with the last frame of the stored clip, charges once, and refunds a continuation fal fails', async () => {
      const w = (world = await World.start({
        sim: { queueMs: 0, runMs: 100 },
        env: () => ({ STARTING_CREDITS: String(STARTING) }),
      }));
      const alice = w.fake.member('Alice');
      const { parent, result } = await deliveredSeedance(w, alice);

      await w.status(
        await extendFromModal(w, alice, result, parent.id, 'the fox dives into a river'),
        `Cost: ${SEEDANCE_480} credits`,
      );
      const more = await w.jobIn('final', 1);
      expect(more).toMatchObject({
        status: 'succeeded',
        parentJobId: parent.id,
        followup: 'extend',
        prompt: 'the fox dives into a river',
        price: SEEDANCE_480,
      });
      const sent = w.sim.request(more.providerTaskId!)!;
      expect(sent).toMatchObject({
        model: 'fal-ai/bytedance/seedance/v1/pro/image-to-video',
        input: { prompt: 'the fox dives into a river' },
      });
      const frame = pngOfDataUri(sent.input['image_url']);
      expect(pngSize(frame)).toEqual({ width: 854, height: 480 });
      expect(frame.equals(lastFrameTheSlowWay(path.join(w.dir, 'media', parent.mediaKey!)))).toBe(true);
      await w.fake.waitFor('the continuation delivered', () => w.deliveries(alice).length === 2);
      expect(await w.balance(alice)).toBe(STARTING - 2 * SEEDANCE_480);

      await extendFromModal(w, alice, result, parent.id, `it explodes ${FAL_SIM_MARKERS.fail}`);
      const failed = await w.jobIn('final', 2);
      expect(failed).toMatchObject({ status: 'failed', followup: 'extend' });
      expect(w.sim.request(failed.providerTaskId!)!.input['image_url']).toMatch(/^data:image\/png;base64,/);
      expect(await w.balance(alice)).toBe(STARTING - 2 * SEEDANCE_480);
      await w.expectLedgerBalanced();
    });

    it('refuses with a clear reply when the clip is no longer stored, charging nothing and making no job', async () => {
      const w = (world = await World.start({
        sim: { queueMs: 0, runMs: 100 },
        env: () => ({ STARTING_CREDITS: String(STARTING) }),
      }));
      const alice = w.fake.member('Alice');
      const { parent, result } = await deliveredSeedance(w, alice);
      fs.rmSync(path.join(w.dir, 'media', parent.mediaKey!));

      const refused = await extendFromModal(w, alice, result, parent.id, 'the fox dives into a river');
      expect(await w.privateReply(refused)).toBe('This video is no longer stored here, so it cannot be extended.');
      expect(await w.jobs()).toHaveLength(1);
      expect(w.sim.stats.submissions).toBe(1);
      expect(await w.balance(alice)).toBe(STARTING - SEEDANCE_480);
      await w.expectLedgerBalanced();
    });
  });
});
