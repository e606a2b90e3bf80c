import { request } from 'undici';
import { describe, expect, it, onTestFinished } from 'vitest';
import { MODELS, type GenerationParams } from '../../src/core/catalog.js';
import type { GenerationRequest } from '../../src/core/ports.js';
import { parseUpscaleTaskId } from '../../src/providers/kie-veo-followups.js';
import { createKieProvider, type KieProvider } from '../../src/providers/kie.js';
import { KIE_SIM_MARKERS, startKieSimulator, type KieSimOptions, type KieSimulator } from '../../src/sim/kie.js';
import { createTestClock, expectProviderError, pollUntilFinal } from './conformance.js';

const VEO_FAST = MODELS.find((m) => m.id === 'veo3.1-fast')!.providerModels.textToVideo;
const VEO = MODELS.find((m) => m.id === 'veo3.1')!.providerModels.textToVideo;
const PARAMS: GenerationParams = { durationS: 8, resolution: '720p', aspectRatio: '16:9' };

async function open(sim: KieSimOptions = {}): Promise<{ provider: KieProvider; sim: KieSimulator }> {
  const clock = createTestClock();
  const simulator = await startKieSimulator({ clock, queueMs: 0, runMs: 10, ...sim });
  const provider = createKieProvider({ apiKey: simulator.apiKey, baseUrl: simulator.url, clock, timeoutMs: 5000 });
  onTestFinished(async () => {
    await provider.close();
    await simulator.close();
  });
  return { provider, sim: simulator };
}

/** A finished 720p Veo task, as a delivered parent job has one. */
async function finishedParent(
  provider: KieProvider,
  providerModel = VEO_FAST,
  prompt = 'a fox in the snow',
): Promise<string> {
  const task = await provider.submit({ jobId: 'parent', providerModel, prompt, params: PARAMS });
  expect((await pollUntilFinal(provider, task)).at(-1)).toMatchObject({ state: 'succeeded' });
  return task.taskId;
}

const followup = (
  kind: 'upscale' | 'extend',
  parentTaskId: string,
  extra: Partial<GenerationRequest> = {},
): GenerationRequest => ({
  jobId: 'child-1',
  providerModel: VEO_FAST,
  prompt: 'a fox in the snow',
  params: PARAMS,
  followup: { kind, parentTaskId },
  ...extra,
});

describe('kie Veo follow-ups', () => {
  describe('when a delivered 720p clip is upscaled to 1080p', () => {
    it('makes no new task, asks get-1080p-video for the parent task and succeeds with its 1080p copy', async () => {
      const { provider, sim } = await open({ hdReadyMs: 60 });
      const parent = await finishedParent(provider);
      const task = await provider.submit(followup('upscale', parent, { params: { ...PARAMS, resolution: '1080p' } }));
      // Our own task id, which names the parent (one job per provider task in our jobs table).
      expect(parseUpscaleTaskId(task.taskId)).toEqual({ resolution: '1080p', parentTaskId: parent });
      const final = (
        await pollUntilFinal(provider, {
          taskId: task.taskId,
          providerModel: VEO_FAST,
          params: { ...PARAMS, resolution: '1080p' },
        })
      ).at(-1)!;
      expect(final).toEqual({ state: 'succeeded', videoUrl: `${sim.url}/files/${parent}/output-1080p.mp4` });
      expect(sim.requests()).toHaveLength(1);
      expect(
        sim.calls
          .filter((c) => c.route === 'veo_1080p')
          .every((c) => c.path === `/api/v1/veo/get-1080p-video?taskId=${parent}&index=0`),
      ).toBe(true);
      const res = await request(final.state === 'succeeded' ? final.videoUrl : '');
      expect(
        Buffer.from(await res.body.arrayBuffer())
          .subarray(4, 8)
          .toString('latin1'),
      ).toBe('ftyp');
    });
  });

  describe('when it is upscaled to 4K', () => {
    it('starts kie’s 4K task at submit and succeeds with the 4K video once ready', async () => {
      const { provider, sim } = await open({ uhdReadyMs: 80 });
      const parent = await finishedParent(provider, VEO);
      const params: GenerationParams = { ...PARAMS, resolution: '4k' };
      const task = await provider.submit(followup('upscale', parent, { providerModel: VEO, params }));
      expect(sim.stats.uhdCalls).toBe(1);
      const final = (await pollUntilFinal(provider, { taskId: task.taskId, providerModel: VEO, params })).at(-1)!;
      if (final.state !== 'succeeded') throw new Error(`expected success, got ${final.state}`);
      expect(sim.request(final.videoUrl.split('/').at(-2)!)).toMatchObject({ upgradeOf: parent, state: 'succeeded' });
    });

    it('fails the follow-up when kie has no 4K version of the video', async () => {
      const { provider, sim } = await open({ uhdReadyMs: 0 });
      const parent = await finishedParent(provider, VEO, `a fox ${KIE_SIM_MARKERS.uhdUnavailable}`);
      const params: GenerationParams = { ...PARAMS, resolution: '4k' };
      const task = await provider.submit(followup('upscale', parent, { providerModel: VEO, params }));
      const final = (await pollUntilFinal(provider, { taskId: task.taskId, providerModel: VEO, params })).at(-1)!;
      expect(final).toMatchObject({ state: 'failed', error: { kind: 'validation' } });
      expect(sim.stats.uhdCalls).toBeGreaterThan(0);
    });
  });

  describe('when the parent task is unknown to kie', () => {
    it('refuses the upscale at submit, not retryable', async () => {
      const { provider } = await open();
      await expectProviderError(
        provider.submit(
          followup('upscale', 'veo_task_0000000000000000', { params: { ...PARAMS, resolution: '1080p' } }),
        ),
        { retryable: false },
      );
    });
  });

  describe('when a delivered clip is extended', () => {
    it('posts taskId, the new prompt and the model to /api/v1/veo/extend, and delivers the joined clip record-info names', async () => {
      const { provider, sim } = await open();
      const parent = await finishedParent(provider);
      const task = await provider.submit(
        followup('extend', parent, { prompt: 'the fox jumps into the river', jobId: 'child-9' }),
      );
      expect(task.taskId).not.toBe(parent);
      const child = sim.request(task.taskId)!;
      expect(child).toMatchObject({
        extendOf: parent,
        input: { taskId: parent, prompt: 'the fox jumps into the river', model: 'fast' },
      });
      expect(sim.stats.submissionsByJobId.get('child-9')).toBe(1);
      const final = (await pollUntilFinal(provider, task)).at(-1)!;
      expect(final).toEqual({ state: 'succeeded', videoUrl: `${sim.url}/files/${task.taskId}/full.mp4` });
      const res = await request(final.state === 'succeeded' ? final.videoUrl : '');
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    });

    it('names the Quality model "quality"', async () => {
      const { provider, sim } = await open();
      const parent = await finishedParent(provider, VEO);
      const task = await provider.submit(followup('extend', parent, { providerModel: VEO, prompt: 'then it rains' }));
      expect(sim.request(task.taskId)!.input).toMatchObject({ model: 'quality' });
    });

    it('reports a continuation kie failed as failed', async () => {
      const { provider } = await open();
      const parent = await finishedParent(provider);
      const task = await provider.submit(followup('extend', parent, { prompt: `it explodes ${KIE_SIM_MARKERS.fail}` }));
      expect((await pollUntilFinal(provider, task)).at(-1)).toMatchObject({ state: 'failed' });
    });

    it('is refused by kie once the clip was upgraded to 1080p', async () => {
      const { provider } = await open({ hdReadyMs: 0 });
      const parent = await finishedParent(provider);
      const up = await provider.submit(followup('upscale', parent, { params: { ...PARAMS, resolution: '1080p' } }));
      expect(
        (await pollUntilFinal(provider, { ...up, params: { ...PARAMS, resolution: '1080p' } })).at(-1),
      ).toMatchObject({ state: 'succeeded' });
      await expectProviderError(provider.submit(followup('extend', parent, { prompt: 'more' })), {
        kind: 'validation',
        retryable: false,
      });
    });
  });
});
