import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signFalWebhook } from '../../src/sim/fal.js';
import { signKieWebhook } from '../../src/providers/kie.js';
import { jobRow, startWorld, until, videoRequest, worldState, type World } from './world.js';

/**
 * Hostile callbacks to the bot's own HTTP server, for each provider route. Forged, stale, malformed or oversized
 * callbacks are refused (401 / 413), unknown names are 404, well-formed ones about unknown tasks are 200-ignored,
 * and nothing moves: no job changes state, no ledger entry, no delivery is recorded.
 */

let w: World;
const task = { fal: '', ark: '', kie: '' };
const jobIds: string[] = [];

beforeAll(async () => {
  w = await startWorld({ webhooks: true });
  // One job per provider that never finishes, so the forgeries below have real task ids to lie about.
  for (const model of ['seedance-1-pro', 'seedance-1-pro-ark', 'veo3-fast']) {
    const { job } = await w.bot.engine.submitVideo(videoRequest(model, '[sim:hang] a fox in the snow'));
    jobIds.push(job.id);
  }
  const ids = await until('every job to reach its provider', () => {
    const rows = jobIds.map((id) => jobRow(w.db, id));
    const arkRunning = w.ark.requests().every((t) => t.status === 'running');
    return arkRunning && rows.every((r) => r.providerTaskId && r.status === 'running')
      ? rows.map((r) => r.providerTaskId!)
      : undefined;
  });
  [task.fal, task.ark, task.kie] = ids as [string, string, string];
  // Ark calls back on every change (queued, running): let those genuine callbacks land before the baseline.
  await Promise.all([w.fal.webhooksSettled(), w.ark.webhooksSettled(), w.kie.webhooksSettled()]);
}, 30_000);
afterAll(async () => w.close());

interface Attempt {
  path: string;
  method?: string;
  body?: string | Uint8Array;
  headers?: Record<string, string>;
}

async function send(a: Attempt): Promise<{ status: number; text: string }> {
  const res = await fetch(`${w.url}${a.path}`, {
    method: a.method ?? 'POST',
    headers: { 'content-type': 'application/json', ...a.headers },
    ...(a.body !== undefined ? { body: a.body } : {}),
  });
  return { status: res.status, text: await res.text() };
}

const nowS = () => Math.floor(Date.now() / 1000);
const HUGE = 'x'.repeat(2 * 1024 * 1024);
const JUST_OVER_1MIB = JSON.stringify({ id: 'a', pad: 'x'.repeat(1024 * 1024) });
const OVER_ARK_LIMIT = JSON.stringify({ id: 'cgt-unknown-1', pad: 'x'.repeat(300 * 1024) });

function falBody(
  requestId: string,
  status = 'OK',
  payload: unknown = { video: { url: 'http://127.0.0.1:9/fake.mp4' } },
): string {
  return JSON.stringify({ request_id: requestId, gateway_request_id: requestId, status, payload });
}
function falSigned(body: string, requestId: string, timestampS = nowS()): Record<string, string> {
  return w.fal.signWebhook(body, { requestId, timestampS });
}
const otherKey = generateKeyPairSync('ed25519').privateKey;

function kieBody(taskId: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    code: 200,
    msg: 'success',
    data: { taskId, info: { resultUrls: ['http://127.0.0.1:9/fake.mp4'] }, ...extra },
  });
}
function kieSigned(taskId: string, timestampS: number | string = nowS(), key = w.kieHmacKey): Record<string, string> {
  return { 'x-webhook-timestamp': String(timestampS), 'x-webhook-signature': signKieWebhook(key, taskId, timestampS) };
}

type Row = [string, () => Attempt, number];

const FAL: Row[] = [
  ['an empty body with no headers', () => ({ path: '/webhooks/fal', body: '' }), 401],
  ['a body that is not JSON', () => ({ path: '/webhooks/fal', body: 'hello' }), 401],
  ['a success for a running task with no signature', () => ({ path: '/webhooks/fal', body: falBody(task.fal) }), 401],
  [
    'only the request-id header',
    () => ({ path: '/webhooks/fal', body: falBody(task.fal), headers: { 'x-fal-webhook-request-id': task.fal } }),
    401,
  ],
  [
    'a signature that is not hex',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-signature': 'z'.repeat(128) },
      };
    },
    401,
  ],
  [
    'a signature of zeros',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-signature': '0'.repeat(128) },
      };
    },
    401,
  ],
  [
    'a signature that is too short',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-signature': 'ab'.repeat(32) },
      };
    },
    401,
  ],
  [
    'a signature made by another key',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: signFalWebhook(otherKey, body, { requestId: task.fal, userId: 'sim-user', timestampS: nowS() }),
      };
    },
    401,
  ],
  [
    'a genuine signature over a different body',
    () => ({
      path: '/webhooks/fal',
      body: falBody(task.fal),
      headers: falSigned(falBody(task.fal, 'ERROR', null), task.fal),
    }),
    401,
  ],
  [
    'a genuine signature an hour old',
    () => {
      const body = falBody(task.fal);
      return { path: '/webhooks/fal', body, headers: falSigned(body, task.fal, nowS() - 3600) };
    },
    401,
  ],
  [
    'a genuine signature an hour in the future',
    () => {
      const body = falBody(task.fal);
      return { path: '/webhooks/fal', body, headers: falSigned(body, task.fal, nowS() + 3600) };
    },
    401,
  ],
  [
    'a timestamp that is not a number',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-timestamp': 'now' },
      };
    },
    401,
  ],
  [
    'a timestamp of 16 digits',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-timestamp': '9'.repeat(16) },
      };
    },
    401,
  ],
  [
    'a negative timestamp',
    () => {
      const body = falBody(task.fal);
      return {
        path: '/webhooks/fal',
        body,
        headers: { ...falSigned(body, task.fal), 'x-fal-webhook-timestamp': '-1' },
      };
    },
    401,
  ],
  [
    'a header request id that differs from the body',
    () => {
      const body = falBody(task.fal);
      return { path: '/webhooks/fal', body, headers: falSigned(body, 'some-other-request') };
    },
    401,
  ],
  [
    'a signed body that is not JSON',
    () => ({ path: '/webhooks/fal', body: 'not json', headers: falSigned('not json', task.fal) }),
    401,
  ],
  [
    'a signed body that is truncated JSON',
    () => {
      const body = falBody(task.fal).slice(0, 30);
      return { path: '/webhooks/fal', body, headers: falSigned(body, task.fal) };
    },
    401,
  ],
  ['a signed JSON null', () => ({ path: '/webhooks/fal', body: 'null', headers: falSigned('null', task.fal) }), 401],
  ['a signed JSON array', () => ({ path: '/webhooks/fal', body: '[]', headers: falSigned('[]', task.fal) }), 401],
  [
    'a signed body whose status is a number',
    () => {
      const body = JSON.stringify({ request_id: task.fal, status: 5, payload: {} });
      return { path: '/webhooks/fal', body, headers: falSigned(body, task.fal) };
    },
    401,
  ],
  [
    'a signed body whose request id is an object',
    () => {
      const body = JSON.stringify({ request_id: { $ne: null }, status: 'OK', payload: {} });
      return { path: '/webhooks/fal', body, headers: falSigned(body, task.fal) };
    },
    401,
  ],
  [
    'a genuine callback about an unknown request',
    () => {
      const body = falBody('00000000-0000-4000-8000-000000000000');
      return { path: '/webhooks/fal', body, headers: falSigned(body, '00000000-0000-4000-8000-000000000000') };
    },
    200,
  ],
  ['a body of 2 MiB', () => ({ path: '/webhooks/fal', body: HUGE }), 413],
  ['a body just over 1 MiB', () => ({ path: '/webhooks/fal', body: JUST_OVER_1MIB }), 413],
];

const ARK: Row[] = [
  ['an empty body', () => ({ path: '/webhooks/ark', body: '' }), 401],
  ['a body that is not JSON', () => ({ path: '/webhooks/ark', body: '<html>hi</html>' }), 401],
  ['truncated JSON', () => ({ path: '/webhooks/ark', body: `{"id":"${task.ark}","status":"succ` }), 401],
  ['a JSON array', () => ({ path: '/webhooks/ark', body: `[{"id":"${task.ark}"}]` }), 401],
  ['JSON null', () => ({ path: '/webhooks/ark', body: 'null' }), 401],
  ['a numeric task id', () => ({ path: '/webhooks/ark', body: '{"id":12345,"status":"succeeded"}' }), 401],
  [
    'a task id with a path in it',
    () => ({ path: '/webhooks/ark', body: '{"id":"../../tasks","status":"succeeded"}' }),
    401,
  ],
  [
    'a task id with a query string',
    () => ({ path: '/webhooks/ark', body: '{"id":"cgt-1?x=1","status":"succeeded"}' }),
    401,
  ],
  ['an overlong task id', () => ({ path: '/webhooks/ark', body: JSON.stringify({ id: 'a'.repeat(200) }) }), 401],
  [
    'a status that is an object',
    () => ({ path: '/webhooks/ark', body: JSON.stringify({ id: task.ark, status: { ok: true } }) }),
    401,
  ],
  [
    'a status with capitals and spaces',
    () => ({ path: '/webhooks/ark', body: JSON.stringify({ id: task.ark, status: 'Succeeded Now' }) }),
    401,
  ],
  [
    'a negative updated_at',
    () => ({ path: '/webhooks/ark', body: JSON.stringify({ id: task.ark, status: 'succeeded', updated_at: -1 }) }),
    401,
  ],
  [
    'a fractional updated_at',
    () => ({ path: '/webhooks/ark', body: JSON.stringify({ id: task.ark, status: 'succeeded', updated_at: 1.5 }) }),
    401,
  ],
  [
    'the task id hidden under __proto__',
    () => ({ path: '/webhooks/ark', body: `{"__proto__":{"id":"${task.ark}"}}` }),
    401,
  ],
  ['a body over Ark’s 256 KiB callback limit', () => ({ path: '/webhooks/ark', body: OVER_ARK_LIMIT }), 401],
  ['a body of 2 MiB', () => ({ path: '/webhooks/ark', body: HUGE }), 413],
  [
    'a well-formed callback about an unknown task',
    () => ({ path: '/webhooks/ark', body: '{"id":"cgt-20990101000000-nosuch","status":"succeeded","updated_at":1}' }),
    200,
  ],
  [
    'a forged “succeeded” about the running task (Ark signs nothing, so it is only a hint)',
    () => ({
      path: '/webhooks/ark',
      body: JSON.stringify({
        id: task.ark,
        status: 'succeeded',
        updated_at: 4_000_000_000,
        content: { video_url: 'file:///etc/passwd' },
      }),
    }),
    200,
  ],
];

const KIE: Row[] = [
  ['an empty body', () => ({ path: '/webhooks/kie', body: '' }), 401],
  ['a body that is not JSON', () => ({ path: '/webhooks/kie', body: 'code=200' }), 401],
  ['JSON without data', () => ({ path: '/webhooks/kie', body: '{"code":200}', headers: kieSigned(task.kie) }), 401],
  [
    'data that is a string',
    () => ({ path: '/webhooks/kie', body: '{"code":200,"data":"x"}', headers: kieSigned(task.kie) }),
    401,
  ],
  [
    'a code that is a string',
    () => ({
      path: '/webhooks/kie',
      body: JSON.stringify({ code: '200', data: { taskId: task.kie } }),
      headers: kieSigned(task.kie),
    }),
    401,
  ],
  [
    'two different task ids',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie, { task_id: 'other' }), headers: kieSigned(task.kie) }),
    401,
  ],
  [
    'no task id at all',
    () => ({ path: '/webhooks/kie', body: '{"code":200,"data":{}}', headers: kieSigned(task.kie) }),
    401,
  ],
  ['no signature headers', () => ({ path: '/webhooks/kie', body: kieBody(task.kie) }), 401],
  [
    'only the timestamp header',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: { 'x-webhook-timestamp': String(nowS()) } }),
    401,
  ],
  [
    'a signature made with another key',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: kieSigned(task.kie, nowS(), 'not-the-key') }),
    401,
  ],
  [
    'a genuine signature for another task',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: kieSigned('some-other-task') }),
    401,
  ],
  [
    'a genuine signature an hour old',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: kieSigned(task.kie, nowS() - 3600) }),
    401,
  ],
  [
    'a genuine signature an hour in the future',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: kieSigned(task.kie, nowS() + 3600) }),
    401,
  ],
  [
    'a timestamp in milliseconds',
    () => ({ path: '/webhooks/kie', body: kieBody(task.kie), headers: kieSigned(task.kie, Date.now()) }),
    401,
  ],
  [
    'a timestamp that is not a number',
    () => ({
      path: '/webhooks/kie',
      body: kieBody(task.kie),
      headers: { ...kieSigned(task.kie), 'x-webhook-timestamp': '1e9' },
    }),
    401,
  ],
  [
    'a signature that is not base64 of 32 bytes',
    () => ({
      path: '/webhooks/kie',
      body: kieBody(task.kie),
      headers: { ...kieSigned(task.kie), 'x-webhook-signature': 'c2hvcnQ=' },
    }),
    401,
  ],
  [
    'a signature in hex instead of base64',
    () => ({
      path: '/webhooks/kie',
      body: kieBody(task.kie),
      headers: { ...kieSigned(task.kie), 'x-webhook-signature': 'ab'.repeat(32) },
    }),
    401,
  ],
  [
    'an empty signature',
    () => ({
      path: '/webhooks/kie',
      body: kieBody(task.kie),
      headers: { ...kieSigned(task.kie), 'x-webhook-signature': '' },
    }),
    401,
  ],
  [
    'a body over the 256 KiB callback limit',
    () => ({
      path: '/webhooks/kie',
      body: JSON.stringify({ data: { taskId: 'x' }, pad: 'x'.repeat(300 * 1024) }),
      headers: kieSigned('x'),
    }),
    401,
  ],
  ['a body of 2 MiB', () => ({ path: '/webhooks/kie', body: HUGE }), 413],
  [
    'a genuine callback about an unknown task',
    () => ({ path: '/webhooks/kie', body: kieBody('nosuchtask0000'), headers: kieSigned('nosuchtask0000') }),
    200,
  ],
];

const ROUTES: Row[] = [
  ['an unknown provider', () => ({ path: '/webhooks/nope', body: '{}' }), 404],
  ['a provider name in capitals', () => ({ path: '/webhooks/FAL', body: '{}' }), 404],
  ['an encoded path traversal', () => ({ path: '/webhooks/..%2Fadmin', body: '{}' }), 404],
  ['an encoded NUL after the name', () => ({ path: '/webhooks/fal%00', body: '{}' }), 404],
  ['a provider name of 40 characters', () => ({ path: `/webhooks/${'a'.repeat(40)}`, body: '{}' }), 404],
  ['no provider name', () => ({ path: '/webhooks/', body: '{}' }), 404],
  ['a GET instead of a POST', () => ({ path: '/webhooks/fal', method: 'GET' }), 404],
  ['a PUT instead of a POST', () => ({ path: '/webhooks/ark', method: 'PUT', body: '{}' }), 404],
  ['a DELETE instead of a POST', () => ({ path: '/webhooks/kie', method: 'DELETE' }), 404],
  ['a provider that exists but is spelled with a trailing dot', () => ({ path: '/webhooks/fal.', body: '{}' }), 404],
];

describe('hostile webhooks', () => {
  describe.each([
    ['/webhooks/fal', FAL],
    ['/webhooks/ark', ARK],
    ['/webhooks/kie', KIE],
    ['the webhook routes themselves', ROUTES],
  ])('to %s', (_route, rows) => {
    it.each(rows)('answers %s with the route’s status and moves nothing', async (_what, build, status) => {
      const before = worldState(w.db);
      const res = await send(build());
      expect(res.status).toBe(status);
      // Error answers say little and never echo internals.
      expect(res.text.length).toBeLessThan(200);
      expect(res.text).not.toMatch(/stack|Error:|at \//);
      const after = worldState(w.db);
      expect(after.jobs).toEqual(before.jobs);
      expect(after.ledger).toBe(before.ledger);
      // Only a well-formed hint about a real task may be recorded (as a delivery); nothing else is.
      if (status !== 200 || !/running task/.test(_what)) expect(after.deliveries).toBe(before.deliveries);
    });
  });

  it('leaves every running job running, holding its price and nothing else', () => {
    for (const id of jobIds) {
      expect(jobRow(w.db, id).status).toBe('running');
      expect(w.db.$client.prepare('select kind from ledger_entries where job_id = ?').all(id)).toEqual([
        { kind: 'hold' },
      ]);
    }
  });
});
