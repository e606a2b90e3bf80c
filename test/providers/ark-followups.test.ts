import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS, type GenerationParams } from '../../src/core/catalog.js';
import type { GenerationRequest } from '../../src/core/ports.js';
import { createArkProvider, type ArkProvider } from '../../src/providers/ark.js';
import { startArkSimulator, type ArkSimulator } from '../../src/sim/ark.js';
import { expectProviderError, pollUntilFinal } from './conformance.js';

/** Extend on Ark through the real adapter and the Ark simulator over HTTP: image-to-video from the parent's last frame. */

const MODEL = MODELS.find((m) => m.id === 'seedance-2-ark')!.providerModels.textToVideo;
const PARAMS: GenerationParams = { durationS: 5, resolution: '720p', aspectRatio: '16:9', audio: true };

async function open(): Promise<{ provider: ArkProvider; sim: ArkSimulator }> {
  const sim = await startArkSimulator({ queueMs: 0, runMs: 20 });
  const provider = createArkProvider({ apiKey: sim.apiKey, baseUrl: sim.url, timeoutMs: 5000 });
  onTestFinished(async () => {
    await provider.close();
    await sim.close();
  });
  return { provider, sim };
}

const request = (extra: Partial<GenerationRequest> = {}): GenerationRequest => ({
  jobId: 'job-1',
  providerModel: MODEL,
  prompt: 'a fox in the snow',
  params: PARAMS,
  ...extra,
});

describe('Ark follow-ups', () => {
  describe('when a delivered clip is extended', () => {
    it('submits image-to-video from the parent task’s last frame with the new prompt, and succeeds with the continuation', async () => {
      const { provider, sim } = await open();
      const parent = await provider.submit(request());
      expect((await pollUntilFinal(provider, parent)).at(-1)).toMatchObject({ state: 'succeeded' });
      const task = await provider.submit(
        request({
          jobId: 'job-2',
          prompt: 'the fox dives into a river',
          followup: { kind: 'extend', parentTaskId: parent.taskId },
        }),
      );
      const child = sim.task(task.taskId)!;
      expect(child.prompt).toBe('the fox dives into a river');
      expect(child.image).toEqual({
        url: expect.stringMatching(new RegExp(`/files/${parent.taskId}/last_frame\\.png`)),
        role: 'first_frame',
      });
      expect(child.body.return_last_frame).toBe(true);
      expect((await pollUntilFinal(provider, task)).at(-1)).toMatchObject({
        state: 'succeeded',
        videoUrl: expect.stringContaining(`/files/${task.taskId}/output.mp4`),
      });
    });

    it('refuses, not retryable, while the parent has not finished, and makes no task', async () => {
      const { provider, sim } = await open();
      const parent = await provider.submit(request({ prompt: 'a fox [sim:hang]' }));
      await expectProviderError(
        provider.submit(request({ followup: { kind: 'extend', parentTaskId: parent.taskId } })),
        { kind: 'validation', retryable: false },
      );
      expect(sim.requests()).toHaveLength(1);
    });

    it('refuses an upscale: Ark has none', async () => {
      const { provider } = await open();
      await expectProviderError(
        provider.submit(request({ followup: { kind: 'upscale', parentTaskId: 'cgt-20250629201507-n6k56' } })),
        { kind: 'validation', retryable: false },
      );
    });
  });
});
