import { describe, expect, it } from 'vitest';
import { findModel, MODELS, priceCredits, resolveParams } from './catalog.js';

describe('the model catalog', () => {
  describe('when a model was renamed', () => {
    it.each([
      ['veo3-fast', 'veo3.1-fast'],
      ['veo3', 'veo3.1'],
      ['VEO3-FAST', 'veo3.1-fast'],
    ])('finds %s as %s, so stored jobs and chat defaults still resolve', (former, current) => {
      expect(findModel(former)?.id).toBe(current);
    });

    it('keeps kie’s model ids, which serve Veo 3.1 now', () => {
      expect(findModel('veo3.1-fast')).toMatchObject({
        label: 'Veo 3.1 Fast with sound (kie.ai)',
        providerModels: { textToVideo: 'veo3_fast' },
      });
      expect(findModel('veo3.1')).toMatchObject({
        label: 'Veo 3.1 Quality with sound (kie.ai)',
        providerModels: { textToVideo: 'veo3' },
      });
    });

    it('lets no id or former id name two models', () => {
      const names = MODELS.flatMap((m) => [m.id, ...(m.aliases ?? [])]);
      expect(new Set(names).size).toBe(names.length);
    });
  });

  describe('when a member asks for 4K', () => {
    it('prices a Veo 3.1 clip at 4K above 1080p (kie charges about two more Fast generations)', () => {
      const fast = findModel('veo3.1-fast')!;
      const at = (resolution: '720p' | '1080p' | '4k') =>
        priceCredits(fast, resolveParams(fast, { resolution }, false));
      expect([at('720p'), at('1080p'), at('4k')]).toEqual([160, 192, 480]);
    });

    it('refuses it on a model without a 4K copy', () => {
      expect(() => resolveParams(findModel('seedance-1-pro')!, { resolution: '4k' }, false)).toThrow(
        /supports 480p, 720p, 1080p/,
      );
    });
  });
});
