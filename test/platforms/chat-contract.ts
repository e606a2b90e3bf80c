import fs from 'node:fs';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { t } from '../../commands/i18n.js';
import { jobActionData } from '../../commands/job-actions.js';
import type { ChatPlatform, JobDestination, MessageRef, ResultDelivery, StatusView } from '../../src/core/ports.js';
import { SIM_ASSETS } from '../../src/sim/assets.js';

/**
 * The contract every ChatPlatform keeps (ports.ts), checked for each platform against what a member of the chat
 * would see: on Discord and Telegram the real client talking to the fake server of the platform, on the console
 * the printed lines. A platform plugs in with a `setup` that makes a fresh chat per test and reads it back.
 */

/** A message as the chat shows it to its members. */
export interface SeenMessage {
  text: string;
  /** What each button does when pressed (`cancel:j1`, `upscale:j1:1080p`: commands/job-actions.ts). */
  actions: string[];
  labels: string[];
  /** The uploaded video, if the message carries one. */
  video?: Buffer;
  /** Who the message notified: user ids (and `@everyone` / `@name` for broadcast or by-name mentions). */
  pinged: string[];
}

export interface ChatUnderTest {
  platform: ChatPlatform;
  /** A member's request in a group chat: the member is `dest.userId`. */
  dest: JobDestination;
  /** Two other people of the chat, as owners to alert by id. */
  others: [string, string];
  /** The message the bot posted last. */
  latest(): Promise<SeenMessage>;
  /** The status message at `ref`, as it reads now. */
  read(ref: MessageRef): Promise<SeenMessage>;
  /** Somebody deletes that message; undefined where messages cannot be deleted (the console). */
  remove?: (ref: MessageRef) => void;
  close(): Promise<void>;
}

/** What the platform has: buttons (the console prints the commands instead), mentions that notify, deletion. */
export interface ChatTraits {
  buttons: boolean;
  mentions: boolean;
  deletes: boolean;
}

const JOB = 'jconf1';
/** A prompt that tries every way of pinging a crowd: none of it may notify anyone. */
const HOSTILE = 'a fox @everyone @here <@&123456789012345678> <@223456789012345678> @durov_fan_club';
const clip = fs.readFileSync(SIM_ASSETS.video480p);

const view = (over: Partial<StatusView> = {}): StatusView => ({
  jobId: JOB,
  text: `⏳ Queued: ${HOSTILE}`,
  final: false,
  cancellable: true,
  locale: null,
  ...over,
});

function delivery(over: Partial<ResultDelivery> = {}): ResultDelivery {
  return {
    jobId: JOB,
    text: `Your video is ready: ${HOSTILE}`,
    media: {
      key: `results/${JOB}.mp4`,
      bytes: clip.length,
      contentType: 'video/mp4',
      url: `http://127.0.0.1:9/media/results/${JOB}.mp4`,
    },
    openRead: async () => Readable.from([clip]),
    ...over,
  };
}

export function describeChatPlatformContract(
  name: string,
  traits: ChatTraits,
  setup: () => Promise<ChatUnderTest>,
): void {
  describe(`${name} as a ChatPlatform`, () => {
    let chat: ChatUnderTest;
    beforeEach(async () => {
      chat = await setup();
    });
    afterEach(async () => {
      await chat.close();
    });

    it('posts a status the chat sees, with Cancel while the job can be cancelled, pinging nobody', async () => {
      const ref = await chat.platform.postStatus(chat.dest, view());

      expect(ref.platform).toBe(chat.platform.id);
      const seen = await chat.read(ref);
      expect(seen.text).toContain('⏳ Queued: a fox');
      if (traits.buttons) expect(seen.actions).toEqual([jobActionData('cancel', JOB)]);
      expect(seen.pinged).toEqual([]);
    });

    it('edits the status in place, and Cancel goes once the job cannot be cancelled', async () => {
      const ref = await chat.platform.postStatus(chat.dest, view());

      expect(await chat.platform.editStatus(ref, view({ text: '🎬 Making your video', cancellable: false }))).toBe(
        true,
      );
      const seen = await chat.read(ref);
      expect(seen.text).toContain('🎬 Making your video');
      expect(seen.actions).toEqual([]);
      expect(seen.pinged).toEqual([]);
    });

    if (traits.deletes) {
      it('answers false, without throwing, when the status message was deleted', async () => {
        const ref = await chat.platform.postStatus(chat.dest, view());
        chat.remove!(ref);

        expect(await chat.platform.editStatus(ref, view({ text: '🎬 Making your video' }))).toBe(false);
      });
    }

    it('uploads a result that fits, with Retry, pinging the requester and nobody else', async () => {
      const { ref } = await chat.platform.deliver(chat.dest, delivery());

      expect(ref).toBeTruthy();
      const seen = await chat.latest();
      expect(seen.text).toContain('Your video is ready: a fox');
      if (traits.buttons) {
        expect(seen.video?.equals(clip)).toBe(true);
        expect(seen.actions).toEqual([jobActionData('retry', JOB)]);
      }
      expect(seen.pinged).toEqual(traits.mentions ? [chat.dest.userId] : []);
    });

    it('links a result over the upload limit instead of uploading it', async () => {
      await chat.platform.deliver({ ...chat.dest, uploadLimitBytes: 1024 }, delivery());

      const seen = await chat.latest();
      expect(seen.video).toBeUndefined();
      expect(seen.text).toContain(`http://127.0.0.1:9/media/results/${JOB}.mp4`);
      expect(seen.pinged).toEqual(traits.mentions ? [chat.dest.userId] : []);
    });

    it('offers the follow-ups the clip has', async () => {
      const followups = {
        upscaleTo: [
          { resolution: '1080p', price: 32 },
          { resolution: '4k', price: 320 },
        ],
        extend: { price: 160 },
      } as const;
      await chat.platform.deliver(chat.dest, delivery({ followups }));

      const seen = await chat.latest();
      if (traits.buttons) {
        expect(seen.actions).toEqual([
          jobActionData('retry', JOB),
          jobActionData('upscale', JOB, '1080p'),
          jobActionData('upscale', JOB, '4k'),
          jobActionData('extend', JOB),
        ]);
        // The price is on the button, so it is shown before anything is charged.
        expect(seen.labels.slice(1).map((l) => /\d+/.exec(l.replace(/1080P|4K/, ''))?.[0])).toEqual([
          '32',
          '320',
          '160',
        ]);
      } else {
        expect(seen.text).toMatch(new RegExp(`/upscale ${JOB} 1080p .*32 credits`));
        expect(seen.text).toMatch(new RegExp(`/upscale ${JOB} 4k .*320 credits`));
        expect(seen.text).toMatch(new RegExp(`/extend ${JOB} .*160 credits`));
      }
    });

    it('tells the requester of a failure with a ping, and owners’ alerts ping exactly the owners', async () => {
      await chat.platform.notify(chat.dest, `Job ${JOB} failed: ${HOSTILE}`);
      const told = await chat.latest();
      expect(told.text).toContain(`Job ${JOB} failed: a fox`);
      expect(told.pinged).toEqual(traits.mentions ? [chat.dest.userId] : []);

      await chat.platform.notify(
        { ...chat.dest, mentionUserIds: chat.others },
        `⚠️ Provider spend is nearing its cap ${HOSTILE}`,
      );
      expect((await chat.latest()).pinged).toEqual(traits.mentions ? chat.others : []);

      await chat.platform.notify({ ...chat.dest, mentionUserIds: [] }, `⚠️ Back to normal ${HOSTILE}`);
      expect((await chat.latest()).pinged).toEqual([]);
    });

    if (traits.buttons) {
      it('labels its buttons in the language the job was requested in', async () => {
        const ref = await chat.platform.postStatus(chat.dest, view({ locale: 'zh-CN' }));
        expect((await chat.read(ref)).labels).toEqual([t('cancel', 'zh')]);

        await chat.platform.editStatus(ref, view({ text: '🎬 …', locale: 'zh-CN' }));
        expect((await chat.read(ref)).labels).toEqual([t('cancel', 'zh')]);

        await chat.platform.deliver({ ...chat.dest, locale: 'zh-CN' }, delivery());
        expect((await chat.latest()).labels).toEqual([t('retry', 'zh')]);
      });
    }
  });
}
