import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startKieSimulator, type KieSimulator } from '../../src/sim/kie.js';
import type { StoredMessage } from '../fakes/telegram-api.js';
import { lastFrameTheSlowWay, pngOfDataUri, pngSize } from '../helpers/png.js';
import { eventually, TelegramWorld as World } from '../helpers/telegram-world.js';

/**
 * Upscale and Extend under a delivered clip, end to end: grammY against the fake Bot API, the whole bot, the kie.ai
 * simulator behind the real kie adapter (Veo 3.1) and the fal simulator (Seedance, extended from the last frame of our
 * stored clip). A press cannot carry a prompt, so Extend's button says to reply with `/extend <job> <prompt>`.
 */

const STARTING = 1000;
/** veo3.1-fast, 8 s: 160 at 720p, 192 at 1080p. */
const VEO_720 = 160;
const buttons = (message: StoredMessage | undefined) =>
  message?.replyMarkup?.inline_keyboard.flat().map((b) => ('callback_data' in b ? b.callback_data : b.text));
const labels = (message: StoredMessage | undefined) => message?.replyMarkup?.inline_keyboard.flat().map((b) => b.text);

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
  kie = await startKieSimulator({ queueMs: 0, runMs: 150, hdReadyMs: 100, uhdReadyMs: 100 });
  world = await World.start({
    env: {
      KIE_API_KEY: kie.apiKey,
      KIE_BASE_URL: kie.url,
      STARTING_CREDITS: String(STARTING),
      CONFIRM_ABOVE_CREDITS: String(confirmAbove),
    },
  });
  await world.boot();
  return world;
}

/** The bot's message in `chat` whose text starts so, once it is there. */
async function messageStarting(
  w: World,
  chat: Parameters<World['fake']['messagesIn']>[0],
  start: string,
): Promise<StoredMessage> {
  let found: StoredMessage | undefined;
  await eventually(() => {
    found = w.fake.messagesIn(chat).find((m) => m.text?.startsWith(start));
    expect(found).toBeDefined();
  });
  return found!;
}

describe('follow-ups on Telegram', () => {
  it('extends with /extend after the button says how, upscales from the button charged the difference, and refuses another member', async () => {
    const w = await start();
    const group = w.fake.group();
    const [alice, bob] = [w.fake.user({ first_name: 'Alice' }), w.fake.user({ first_name: 'Bob' })];
    w.fake.sendText(alice, group, '/video a red fox running through snow --model veo3.1-fast');
    const [parent] = await w.jobsReach(1);
    const [video] = w.fake.videosIn(group);
    expect(buttons(video)).toEqual([
      `retry:${parent!.id}`,
      `upscale:${parent!.id}:1080p`,
      `upscale:${parent!.id}:4k`,
      `extend:${parent!.id}`,
    ]);
    // Each follow-up says its price, the one it is then charged.
    expect(labels(video)).toEqual([
      'Retry',
      'Upscale to 1080P · 32 credits',
      'Upscale to 4K · 320 credits',
      `Extend · ${VEO_720} credits`,
    ]);

    const byBob = w.fake.pressButton(bob, video!, 'upscale:').callbackId;
    await eventually(() =>
      expect(w.fake.callbackAnswer(byBob)).toMatchObject({
        text: 'Only the person who asked for this video can extend or upscale it (it is charged to them).',
        show_alert: true,
      }),
    );
    const bobExtends = w.fake.sendText(bob, group, `/extend ${parent!.id} my own ending`);
    await eventually(async () => expect((await w.replyTo(bobExtends)).text).toMatch(/^Only the person who asked/));
    expect(await w.jobs()).toHaveLength(1);
    expect((await w.ledgerKinds(bob)).filter(([kind]) => kind !== 'starting')).toEqual([]);

    const how = w.fake.pressButton(alice, video!, 'extend:').callbackId;
    await eventually(() =>
      expect(w.fake.callbackAnswer(how)).toMatchObject({
        text: `Reply with /extend ${parent!.id} followed by what happens next.`,
      }),
    );
    expect(await w.jobs()).toHaveLength(1);
    w.fake.sendText(alice, group, `/extend ${parent!.id} the fox dives into a river`);
    const [, more] = await w.jobsReach(2);
    expect(more).toMatchObject({
      parentJobId: parent!.id,
      followup: 'extend',
      prompt: 'the fox dives into a river',
      price: VEO_720,
    });
    expect(kie!.request(more!.providerTaskId!)).toMatchObject({ extendOf: parent!.providerTaskId });
    await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(2));

    const byAlice = w.fake.pressButton(alice, video!, 'upscale:').callbackId;
    const [, , up] = await w.jobsReach(3);
    expect(w.fake.callbackAnswer(byAlice)).toMatchObject({ text: `Follow-up queued as job ${up!.id}.` });
    expect(up).toMatchObject({ parentJobId: parent!.id, followup: 'upscale', price: 32 });
    expect(up!.resultUrl).toBe(`${kie!.url}/files/${parent!.providerTaskId}/output-1080p.mp4`);
    await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(3));
    expect(buttons(w.fake.videosIn(group)[2])).toEqual([`retry:${up!.id}`]);

    expect(await w.balance(alice)).toBe(STARTING - VEO_720 - VEO_720 - 32);
    await w.expectLedgerBalanced();
  });

  it('above CONFIRM_ABOVE_CREDITS quotes a follow-up at its button’s price: Cancel charges nothing, Confirm pressed twice charges it once', async () => {
    // 100: the Veo clip (160), its Extend (160) and its 4K copy (320) are quoted first.
    const w = await start(100);
    const group = w.fake.group();
    const alice = w.fake.user({ first_name: 'Alice' });
    w.fake.sendText(alice, group, '/video a red fox running through snow --model veo3.1-fast');
    w.fake.pressButton(alice, await messageStarting(w, group, 'This video costs 160 credits'), 'confirm:');
    const [parent] = await w.jobsReach(1);
    await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(1));
    const [video] = w.fake.videosIn(group);
    expect(labels(video)).toEqual([
      'Retry',
      'Upscale to 1080P · 32 credits',
      'Upscale to 4K · 320 credits',
      `Extend · ${VEO_720} credits`,
    ]);

    w.fake.sendText(alice, group, `/extend ${parent!.id} the fox dives into a river`);
    const extend = await messageStarting(w, group, `Extending this video costs ${VEO_720} credits`);
    w.fake.pressButton(alice, extend, 'dropquote:');
    await eventually(() =>
      expect(w.fake.messagesIn(group).find((m) => m.messageId === extend.messageId)?.text).toBe(
        'Cancelled; nothing was charged.',
      ),
    );
    expect(await w.jobs()).toHaveLength(1);
    expect(await w.balance(alice)).toBe(STARTING - VEO_720);

    w.fake.pressButton(alice, video!, `upscale:${parent!.id}:4k`);
    const fourK = await messageStarting(w, group, 'Upscaling this video to 4k costs 320 credits');
    expect(await w.jobs()).toHaveLength(1);
    const presses = [
      w.fake.pressButton(alice, fourK, 'confirm:').callbackId,
      w.fake.pressButton(alice, fourK, 'confirm:').callbackId,
    ];
    const [, up] = await w.jobsReach(2);
    expect(up).toMatchObject({
      parentJobId: parent!.id,
      followup: 'upscale',
      price: 320,
      params: { resolution: '4k' },
    });
    await eventually(() =>
      expect(presses.map((p) => w.fake.callbackAnswer(p)?.text).sort()).toEqual([
        `Already confirmed as job ${up!.id}.`,
        `Confirmed: 320 credits for job ${up!.id}.`,
      ]),
    );
    await eventually(() => expect(w.fake.videosIn(group)).toHaveLength(2));
    expect(await w.jobs()).toHaveLength(2);
    expect(await w.balance(alice)).toBe(STARTING - VEO_720 - 320);
    await w.expectLedgerBalanced();
  });

  it('extends a fal Seedance clip from the last frame of the stored clip, and refuses once the clip is gone, charging nothing', async () => {
    const w = (world = await World.start({
      sim: { queueMs: 0, runMs: 100 },
      env: { STARTING_CREDITS: String(STARTING), CONFIRM_ABOVE_CREDITS: '0' },
    }));
    await w.boot();
    const alice = w.fake.user({ first_name: 'Alice' });
    const chat = w.fake.privateChat(alice);
    w.fake.sendText(alice, chat, '/video a red fox --model seedance-1-pro --resolution 480p');
    const [parent] = await w.jobsReach(1);
    const [video] = w.fake.videosIn(chat);
    expect(buttons(video)).toEqual([`retry:${parent!.id}`, `extend:${parent!.id}`]);

    w.fake.sendText(alice, chat, `/extend ${parent!.id} the fox dives into a river`);
    const [, more] = await w.jobsReach(2);
    expect(more).toMatchObject({
      parentJobId: parent!.id,
      followup: 'extend',
      prompt: 'the fox dives into a river',
      price: 40,
    });
    const frame = pngOfDataUri(w.sim.request(more!.providerTaskId!)!.input['image_url']);
    expect(pngSize(frame)).toEqual({ width: 854, height: 480 });
    expect(frame.equals(lastFrameTheSlowWay(path.join(w.dir, 'media', parent!.mediaKey!)))).toBe(true);
    await eventually(() => expect(w.fake.videosIn(chat)).toHaveLength(2));

    fs.rmSync(path.join(w.dir, 'media', parent!.mediaKey!));
    const late = w.fake.sendText(alice, chat, `/extend ${parent!.id} and again`);
    await eventually(async () =>
      expect((await w.replyTo(late)).text).toBe('This video is no longer stored here, so it cannot be extended.'),
    );
    expect(await w.jobs()).toHaveLength(2);
    expect(await w.balance(alice)).toBe(STARTING - 40 - 40);
    await w.expectLedgerBalanced();
  });
});
