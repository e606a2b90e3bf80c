import { z } from 'zod';
import { answerRequest } from './quote-actions.js';
import { defineCommand } from './types.js';

const sunoId = (what: string) =>
  z
    .string({ error: `${what} is missing` })
    .trim()
    .regex(/^[A-Za-z0-9_-]{1,100}$/, `is not a ${what} (letters, digits, - and _ only)`);

export default defineCommand({
  name: 'musicvideo',
  description: 'Turn a song you made with Suno into a music video',
  access: 'member',
  options: z.object({
    task: sunoId('Suno task id'),
    audio: sunoId('Suno audio id'),
    author: z.string().trim().min(1).max(60, 'must be at most 60 characters').optional(),
    domain: z
      .string()
      .trim()
      .max(100)
      .regex(/^(?=.{1,100}$)([a-z0-9-]+\.)+[a-z]{2,}$/i, 'must be a domain name such as music.example.com')
      .optional(),
  }),
  positional: ['task', 'audio'],
  optionHelp: {
    task: 'The Suno music-generation task id',
    audio: 'Which track of that task (its audio id)',
    author: 'Artist name shown in the video',
    domain: 'Website shown in the video',
  },
  async execute(ctx, o, { engine }) {
    const outcome = await engine.requestVideo({
      identity: ctx.actor,
      dest: ctx.dest,
      ...(ctx.guildId ? { guildId: ctx.guildId } : {}),
      ...(ctx.locale ? { locale: ctx.locale } : {}),
      intakeKey: ctx.intakeKey,
      prompt: `Music video for Suno track ${o.audio}`,
      modelId: 'suno-music-video',
      options: {},
      musicVideo: {
        taskId: o.task,
        audioId: o.audio,
        ...(o.author ? { author: o.author } : {}),
        ...(o.domain ? { domainName: o.domain } : {}),
      },
    });
    return answerRequest(outcome, ctx);
  },
});
