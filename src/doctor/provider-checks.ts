import { arkModelIds, type Config } from '../config.js';
import { fail, ok, skip, type CheckResult } from './check.js';
import { field, probe, ProbeError } from './probe.js';

/**
 * Each provider's cheapest authenticated call: one that costs nothing and answers 401 for a bad key.
 * fal: the status of a request id that cannot exist (404 with a good key); Ark: the first page of the task list;
 * kie: the account's credits (its one balance endpoint). fal and Ark document no balance API.
 */

export function checkVideoProvider(config: Config): CheckResult {
  const title = 'Video provider';
  const keys = [config.FAL_KEY && 'fal.ai', config.ARK_API_KEY && 'Ark', config.KIE_API_KEY && 'kie.ai'].filter(
    Boolean,
  );
  return keys.length
    ? ok(title, keys.join(', '))
    : fail(
        title,
        'no provider key is set, so /video has no model to offer',
        'set FAL_KEY, ARK_API_KEY and/or KIE_API_KEY',
      );
}

const NO_SUCH_REQUEST = '00000000-0000-4000-8000-000000000000';

export async function checkFal(config: Config): Promise<CheckResult> {
  const title = 'fal.ai';
  if (!config.FAL_KEY) return skip(title, 'not configured (set FAL_KEY for the Seedance models)');
  const base = config.FAL_QUEUE_URL.replace(/\/$/, '');
  return guarded(title, base, async () => {
    const answer = await probe(`${base}/fal-ai/bytedance/requests/${NO_SUCH_REQUEST}/status`, {
      headers: { authorization: `Key ${config.FAL_KEY}` },
    });
    if (answer.status === 401 || answer.status === 403) {
      return fail(
        title,
        `FAL_KEY is refused (HTTP ${answer.status}${detailOf(answer.json)})`,
        'create a key at fal.ai → Dashboard → Keys and put it in FAL_KEY',
      );
    }
    if (answer.status >= 500 || answer.status === 429)
      return fail(title, `fal answered HTTP ${answer.status}`, 'fal is having trouble; try again in a few minutes');
    return ok(title, 'key accepted (fal has no balance API: see fal.ai → Dashboard → Billing)');
  });
}

export async function checkArk(config: Config): Promise<CheckResult> {
  const title = 'Volcano Engine Ark';
  if (!config.ARK_API_KEY) return skip(title, 'not configured (set ARK_API_KEY for the Seedance models on Ark)');
  const base = config.ARK_BASE_URL.replace(/\/$/, '');
  return guarded(title, base, async () => {
    const answer = await probe(`${base}/contents/generations/tasks?page_num=1&page_size=1`, {
      headers: { authorization: `Bearer ${config.ARK_API_KEY}` },
    });
    const code = String(field(field(answer.json, 'error'), 'code') ?? '');
    if (answer.status === 401)
      return fail(
        title,
        `ARK_API_KEY is refused (HTTP 401${code ? ` ${code}` : ''})`,
        'create an API key in the Ark console (API Key management) and put it in ARK_API_KEY',
      );
    if (answer.status === 403)
      return fail(
        title,
        `the account is refused (HTTP 403${code ? ` ${code}` : ''})`,
        'top up the Volcano Engine account or activate the model in the Ark console',
      );
    if (answer.status !== 200)
      return fail(
        title,
        `Ark answered HTTP ${answer.status}${code ? ` ${code}` : ''}`,
        `check ARK_BASE_URL (${base}) and try again`,
      );
    const models = Object.entries(arkModelIds(config)).map(([catalogId, arkId]) => `${arkId} (${catalogId})`);
    const tier = config.ARK_SERVICE_TIER ? `, service tier ${config.ARK_SERVICE_TIER}` : '';
    return ok(
      title,
      `key accepted, models ${models.join(', ')}${tier} (Ark has no balance API: see the Volcano Engine console → Billing)`,
    );
  });
}

export async function checkKie(config: Config): Promise<CheckResult> {
  const title = 'kie.ai';
  if (!config.KIE_API_KEY) return skip(title, 'not configured (set KIE_API_KEY for Veo 3.1 and Suno music videos)');
  const base = config.KIE_BASE_URL.replace(/\/$/, '');
  return guarded(title, base, async () => {
    const answer = await probe(`${base}/api/v1/chat/credit`, {
      headers: { authorization: `Bearer ${config.KIE_API_KEY}` },
    });
    // kie puts its own code in the body, often under HTTP 200.
    const code = Number(field(answer.json, 'code') ?? answer.status);
    if (code === 401 || answer.status === 401)
      return fail(
        title,
        'KIE_API_KEY is refused (401)',
        'copy the key again from kie.ai → API Key and put it in KIE_API_KEY',
      );
    const credits = field(answer.json, 'data');
    if (answer.status !== 200 || code !== 200 || typeof credits !== 'number') {
      return fail(
        title,
        `the credits call answered HTTP ${answer.status}, code ${Number.isNaN(code) ? '?' : code}`,
        `check KIE_BASE_URL (${base}) and try again`,
      );
    }
    if (credits <= 0) return fail(title, 'key accepted, but the account has 0 credits', 'top up at kie.ai → Billing');
    return ok(title, `key accepted, ${credits} credits left`);
  });
}

async function guarded(title: string, base: string, check: () => Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await check();
  } catch (error) {
    if (error instanceof ProbeError)
      return fail(title, `${base} unreachable (${error.message})`, 'check the network and the base URL setting');
    throw error;
  }
}

function detailOf(json: unknown): string {
  const detail = field(json, 'detail');
  return typeof detail === 'string' && detail.length < 120 ? `: ${detail}` : '';
}
