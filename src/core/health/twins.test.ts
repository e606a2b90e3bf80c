import { describe, expect, it } from 'vitest';
import { MODELS, priceUsd, type GenerationParams } from '../catalog.js';
import { MODEL_TWINS, modelsWithTwins, twinMove } from './twins.js';

const job = (model: string, provider: string, params: Partial<GenerationParams> = {}, image = false) => ({
  model,
  provider,
  params: { durationS: 5, resolution: '720p' as const, aspectRatio: '16:9', ...params },
  inputMediaKey: image ? 'inputs/x.png' : null,
  inputImageUrl: null,
});

describe('model twins', () => {
  it('pairs only catalog models of the same kind on two different providers', () => {
    for (const [a, b] of MODEL_TWINS) {
      const [ma, mb] = [MODELS.find((m) => m.id === a)!, MODELS.find((m) => m.id === b)!];
      expect(ma.provider).not.toBe(mb.provider);
      expect(ma.kind).toBe(mb.kind);
    }
  });

  it('moves a fal Seedance job to Ark with the text- or image-to-video model id and Ark’s cost', () => {
    const ark = MODELS.find((m) => m.id === 'seedance-1-pro-ark')!;
    expect(twinMove(job('seedance-1-pro', 'fal'), MODELS)).toEqual({
      model: ark,
      providerModel: ark.providerModels.textToVideo,
      costUsd: priceUsd(ark, job('x', 'fal').params),
    });
    const fal = MODELS.find((m) => m.id === 'seedance-1.5-pro')!;
    expect(twinMove(job('seedance-1.5-pro-ark', 'ark', { audio: true }, true), MODELS)?.providerModel).toBe(
      fal.providerModels.imageToVideo,
    );
    expect(twinMove(job('seedance-1-pro-ark', 'ark', { cameraFixed: true }), MODELS)?.model.id).toBe('seedance-1-pro');
  });

  it('keeps a job whose settings its twin does not take, or whose model has no twin', () => {
    expect(twinMove(job('seedance-1-pro', 'fal', { durationS: 13 }), MODELS)).toBeUndefined();
    expect(twinMove(job('seedance-2-fast', 'fal', { resolution: '1080p' }), MODELS)).toBeUndefined();
    expect(twinMove(job('seedance-2', 'fal', { aspectRatio: '5:4' }), MODELS)).toBeUndefined();
    expect(twinMove(job('veo3.1-fast', 'kie', { durationS: 8 }), MODELS)).toBeUndefined();
    expect(
      twinMove(
        job('seedance-1-pro', 'fal'),
        MODELS.filter((m) => m.provider !== 'ark'),
      ),
    ).toBeUndefined();
  });

  it('names the provider’s models that have a twin on a configured provider', () => {
    expect(modelsWithTwins('fal', MODELS, new Set(['fal', 'ark'])).map((m) => m.id)).toEqual([
      'seedance-1-pro',
      'seedance-1.5-pro',
      'seedance-2',
      'seedance-2-fast',
    ]);
    expect(modelsWithTwins('fal', MODELS, new Set(['fal']))).toEqual([]);
    expect(modelsWithTwins('kie', MODELS, new Set(['fal', 'ark', 'kie']))).toEqual([]);
  });
});
