import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findCommand } from '../../commands/index.js';
import { parseCommandText } from '../../commands/parse-text.js';
import { runCommand } from '../../commands/run-command.js';
import type { CommandContext, CommandDeps, Role } from '../../commands/types.js';
import { loadConfig } from '../../src/config.js';
import { createPrefilter } from '../../src/core/moderation/prefilter.js';
import { listBlockedTerms } from '../../src/core/admin.js';
import { silentLogger } from '../../src/logger.js';
import { fakeDns } from '../media/fixtures.js';
import { EngineHarness } from '../helpers/engine-harness.js';

/**
 * Hostile chat input through the real parser and runner: every line is refused with a plain message (never an
 * internal error), and nothing moves: no job, no ledger entry, no stored file, no call to the provider.
 */

let h: EngineHarness;
let deps: CommandDeps;
let seq = 0;

// Every host name the fetcher may ask about resolves to a place it must refuse; anything else does not exist.
const dns = fakeDns({
  localhost: ['127.0.0.1'],
  'metadata.google.internal': ['169.254.169.254'],
  'evil.test': ['10.0.0.1'],
  'rebind.test': ['127.0.0.1', '::1'],
  'lan.test': ['192.168.1.10'],
  'v6local.test': ['fd00::1'],
});

beforeAll(async () => {
  h = await EngineHarness.start({ blocklist: ['forbiddenword'], fetcher: { allowCidrs: [], lookup: dns.lookup } });
  deps = {
    engine: h.engine,
    db: h.db,
    clock: h.clock,
    config: loadConfig({ STARTING_CREDITS: '200' }),
    logger: silentLogger,
    prefilter: createPrefilter({
      configTerms: ['forbiddenword'],
      loadDbTerms: () => listBlockedTerms(h.db),
      failOpen: false,
      logger: silentLogger,
    }),
  };
  // The actor and a second member exist beforehand, so a refused command cannot hide behind a first-use grant.
  expect((await run('/balance', 'owner')).ok).toBe(true);
  expect((await run('/balance', 'member', 'ann')).ok).toBe(true);
});
afterAll(async () => h.close());

function ctx(role: Role, user: string, replies: string[]): CommandContext {
  return {
    platform: 'console',
    actor: { platform: 'console', platformUserId: user, role },
    dest: { platform: 'console', chatId: 'c', userId: user },
    intakeKey: `console:c:${++seq}`,
    reply: async (text) => void replies.push(text),
  };
}

async function run(
  text: string,
  role: Role = 'owner',
  user = 'owner',
): Promise<{ ok: boolean; error: string; internal: boolean }> {
  const parsed = parseCommandText(text, findCommand);
  if (!parsed.ok) return { ok: false, error: parsed.error, internal: false };
  const replies: string[] = [];
  const result = await runCommand(parsed.command, parsed.raw, ctx(role, user, replies), deps);
  if (result.ok) return { ok: true, error: '', internal: false };
  return { ok: false, error: result.error, internal: result.ref !== undefined };
}

async function snapshot() {
  return {
    jobs: await h.jobCount(),
    ledger: (await h.rows.ledger()).length,
    balances: [await h.balance('owner'), await h.balance('ann')],
    submits: h.sim.stats.submitCalls,
    files: listFiles(path.join(h.dir, 'media')),
  };
}

function listFiles(dir: string): string[] {
  try {
    // The temp directory itself is the store's; a file left inside it would be a leak and is counted.
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f !== '.tmp')
      .sort();
  } catch {
    return [];
  }
}

async function expectRefusedWithoutLoss(
  text: string,
  reason: RegExp,
  role: Role = 'owner',
  user = 'owner',
): Promise<void> {
  const before = await snapshot();
  const result = await run(text, role, user);
  expect(result.ok).toBe(false);
  expect(result.internal).toBe(false);
  expect(result.error).toMatch(reason);
  // A clear error is short, plain text: no stack trace, no object dump.
  expect(result.error.length).toBeLessThan(600);
  expect(result.error).not.toMatch(/\n\s+at |\[object Object\]|undefined/);
  expect(await snapshot()).toEqual(before);
}

const long = (n: number, c = 'a') => c.repeat(n);

/** [what, command line, the refusal it must give] */
const PARSER_AND_PROMPT: [string, string, RegExp][] = [
  ['an empty line', '', /start with \//],
  ['a line without a slash', 'video a fox', /start with \//],
  ['a bare slash', '/', /start with \//],
  ['an unknown command', '/nosuchcommand a fox', /no command \/nosuchcommand/],
  ['a command name longer than 32 characters', `/${long(40, 'v')} a fox`, /start with \//],
  ['a look-alike command name (accented)', '/vídeo a fox', /start with \/|no command/],
  ['a NUL glued to the command name', '/video\u0000 a fox', /start with \//],
  ['a line over 4000 characters', `/video ${long(4100)}`, /too long/],
  ['a line of 4001 spaces', long(4001, ' '), /too long/],
  ['an unknown option', '/video a fox --nope 1', /no option --nope/],
  ['an option named like a prototype property', '/video a fox --constructor x', /no option --constructor/],
  ['an option named __proto__-like toString', '/video a fox --toString x', /no option --tostring/],
  ['an option named hasOwnProperty', '/video a fox --hasOwnProperty 1', /no option --hasownproperty/],
  ['an overlong unknown option name', `/video a fox --${long(500, 'x')} 1`, /no option --x{30}\./],
  ['extra words after /balance', '/balance please now', /does not take/],
  ['extra words after /queue', '/queue everything', /does not take/],
  ['extra words after /models', '/models ; rm -rf /', /does not take/],
  ['extra words after /stats', '/stats <@123>', /does not take/],
  ['no prompt at all', '/video', /prompt is missing/],
  ['an empty quoted prompt', '/video ""', /describe the video/],
  ['a prompt of spaces', "/video '     '", /describe the video/],
  ['a prompt over 2000 characters', `/video ${long(2001)}`, /limit is 2,000/],
  ['a prompt of 2001 code points, half emoji', `/video ${long(1000, '🦊')}${long(1001)}`, /limit is 2,000/],
  ['a NUL in the prompt', '/video a fox\u0000 in snow', /invisible control characters/],
  ['a BEL in the prompt', '/video a fox\u0007', /invisible control characters/],
  ['an ANSI escape in the prompt', '/video \u001b[31mred\u001b[0m fox', /invisible control characters/],
  ['a DEL in the prompt', '/video a fox\u007f', /invisible control characters/],
  ['a C1 control (NEL) in the prompt', '/video a fox\u0085 runs', /invisible control characters/],
  ['a vertical tab in a quoted prompt', '/video "a fox\u000b runs"', /invisible control characters/],
  ['a form feed in a quoted prompt', '/video "a fox\u000c runs"', /invisible control characters/],
  ['a backspace trick in the prompt', '/video a cat\b\b\bfox', /invisible control characters/],
  ['a lone surrogate in the prompt', '/video a fox \ud800 runs', /invisible control characters/],
  ['a right-to-left override (U+202E)', '/video a fox \u202Ewons ni', /change the text direction/],
  ['a left-to-right override (U+202D)', '/video a fox \u202Dsnow', /change the text direction/],
  ['a right-to-left embedding (U+202B)', '/video \u202Ba fox', /change the text direction/],
  ['a left-to-right embedding (U+202A)', '/video \u202Aa fox', /change the text direction/],
  ['a pop directional formatting (U+202C)', '/video a fox\u202C', /change the text direction/],
  ['a right-to-left isolate (U+2067)', '/video \u2067a fox\u2069', /change the text direction/],
  ['a left-to-right isolate (U+2066)', '/video \u2066a fox', /change the text direction/],
  ['a first-strong isolate (U+2068)', '/video \u2068a fox', /change the text direction/],
  ['a blocked term', '/video a forbiddenword fox', /word filter/],
  ['a blocked term in capitals', '/video a FORBIDDENWORD fox', /word filter/],
  ['a blocked term split by a zero-width space', '/video a forbidden\u200Bword fox', /word filter/],
  ['a blocked term split by a zero-width joiner', '/video a forbid\u200Ddenword fox', /word filter/],
  ['a blocked term split by a zero-width non-joiner', '/video a forbi\u200Cddenword fox', /word filter/],
  ['a blocked term split by a byte-order mark', '/video a forbidden\uFEFFword fox', /word filter/],
  ['a blocked term split by a soft hyphen', '/video a forbidden\u00ADword fox', /word filter/],
  ['a blocked term in fullwidth letters', '/video a ｆｏｒｂｉｄｄｅｎｗｏｒｄ fox', /word filter/],
];

const VIDEO_OPTIONS: [string, string, RegExp][] = [
  ['a negative duration', '/video a fox --duration -5', /./],
  ['a zero duration', '/video a fox --duration 0', /./],
  ['a huge duration', '/video a fox --duration 999999999', /./],
  ['a duration of 1e308', '/video a fox --duration 1e308', /./],
  ['a duration of NaN', '/video a fox --duration NaN', /--duration must be a number|--duration/],
  ['a duration of Infinity', '/video a fox --duration Infinity', /--duration/],
  ['a fractional duration', '/video a fox --duration 5.5', /whole seconds/],
  ['a duration in words', '/video a fox --duration five', /--duration/],
  ['an empty duration', '/video a fox --duration=', /./],
  ['a duration with SQL in it', '/video a fox --duration "5; DROP TABLE jobs"', /--duration/],
  ['an unknown resolution', '/video a fox --resolution 8k', /must be 480p, 720p, 1080p or 4k/],
  ['a resolution in capitals', '/video a fox --resolution 720P', /must be 480p, 720p, 1080p or 4k/],
  ['a resolution with a payload', '/video a fox --resolution "480p\'; --"', /must be 480p, 720p, 1080p or 4k/],
  ['an empty resolution', '/video a fox --resolution=', /must be 480p, 720p, 1080p or 4k/],
  ['a resolution given as a bare flag', '/video a fox --resolution', /must be 480p, 720p, 1080p or 4k/],
  ['an unknown model', '/video a fox --model gpt-5', /no model called/],
  ['a path as a model', '/video a fox --model ../../etc/passwd', /no model called/],
  ['a model with a NUL', '/video a fox --model "seedance-1-pro\u0000"', /no model called/],
  ['an overlong model id', `/video a fox --model ${long(61)}`, /--model/],
  ['a model whose provider is not configured', '/video a fox --model veo3-fast', /no model called/],
  ['a music-video model for /video', '/video a fox --model suno-music-video', /no model called|musicvideo/],
  ['an impossible aspect ratio', '/video a fox --aspect 99:1', /./],
  ['an aspect ratio with three parts', '/video a fox --aspect 16:9:1', /./],
  ['an overlong aspect ratio', `/video a fox --aspect ${long(11, '9')}`, /--aspect/],
  ['an aspect ratio with a mention', '/video a fox --aspect @everyone', /./],
  ['a negative seed', '/video a fox --seed -1', /0 or more/],
  ['a seed past 2^31-1', '/video a fox --seed 2147483648', /at most 2147483647/],
  ['a fractional seed', '/video a fox --seed 1.5', /whole number/],
  ['a seed of NaN', '/video a fox --seed NaN', /--seed/],
  ['a seed of 1e400', '/video a fox --seed 1e400', /--seed/],
  ['a seed in hex words', '/video a fox --seed 0xZZ', /--seed/],
  ['a camera_fixed that is not a boolean', '/video a fox --camera_fixed=maybe', /true or false/],
  ['an audio flag that is not a boolean', '/video a fox --audio=perhaps', /true or false/],
  ['an image that is not a URL', '/video a fox --image not-a-url', /http\(s\) link/],
];

const OTHER_COMMANDS: [string, string, RegExp][] = [
  ['/musicvideo with nothing', '/musicvideo', /is missing/],
  ['/musicvideo with only a task id', '/musicvideo t1', /audio id is missing|--audio|audio/],
  ['/musicvideo with a path as task id', '/musicvideo ../../x a1', /not a Suno task id/],
  ['/musicvideo with a bidi override in the task id', '/musicvideo t\u202E1 a1', /not a Suno task id/],
  ['/musicvideo with a URL as audio id', '/musicvideo t1 http://127.0.0.1/a', /does not take|not a Suno audio id/],
  ['/musicvideo with an overlong task id', `/musicvideo ${long(101)} a1`, /not a Suno task id/],
  ['/musicvideo with an empty author', '/musicvideo t1 a1 --author=', /--author/],
  ['/musicvideo with an overlong author', `/musicvideo t1 a1 --author ${long(61)}`, /at most 60 characters/],
  ['/musicvideo with a javascript: domain', '/musicvideo t1 a1 --domain javascript:alert(1)', /domain name/],
  ['/musicvideo with a URL as domain', '/musicvideo t1 a1 --domain http://evil.test', /domain name/],
  ['/musicvideo with localhost as domain', '/musicvideo t1 a1 --domain localhost', /domain name/],
  ['/musicvideo with an overlong domain', `/musicvideo t1 a1 --domain ${long(101)}.com`, /--domain/],
  ['/musicvideo when no Suno provider is configured', '/musicvideo t1 a1', /no model called/],
  ['/history with a limit of 0', '/history 0', /at least 1/],
  ['/history with a negative limit', '/history -1', /at least 1/],
  ['/history with a limit of 21', '/history 21', /at most 20/],
  ['/history with a huge limit', '/history 1e309', /limit/],
  ['/history with a limit of NaN', '/history NaN', /limit/],
  ['/history with a fractional limit', '/history 2.5', /whole number/],
  ['/history with a word as limit', '/history all', /limit/],
  ['/cancel with nothing in progress', '/cancel', /no video in progress/],
  ['/cancel with a too-short job id', '/cancel x', /not a job id/],
  ['/cancel with a path as job id', '/cancel ../../etc/passwd', /not a job id/],
  ['/cancel with an overlong job id', `/cancel ${long(21)}`, /not a job id/],
  ['/cancel with SQL as job id', "/cancel 1' OR '1'='1", /not a job id/],
  ['/cancel with a mention as job id', '/cancel <@123456>', /not a job id/],
  ['/cancel with an unknown job id', '/cancel zzzzzzzz', /no job zzzzzzzz/],
  ['/refund with nothing', '/refund', /is missing|job/],
  ['/refund with a path', '/refund ../x', /not a job id/],
  ['/refund with an unknown job id', '/refund zzzzzzzz', /no job zzzzzzzz/],
  ['/refund with an overlong reason', `/refund zzzzzzzz ${long(301)}`, /at most 300/],
  ['/credits with nothing', '/credits', /use grant or take/],
  ['/credits with an unknown action', '/credits steal console:ann 5', /use grant or take/],
  ['/credits with a negative amount', '/credits grant console:ann -5', /more than 0/],
  ['/credits with zero', '/credits grant console:ann 0', /more than 0/],
  ['/credits with a fraction', '/credits grant console:ann 1.5', /whole number/],
  ['/credits with NaN', '/credits grant console:ann NaN', /must be a number|amount/],
  ['/credits with Infinity', '/credits grant console:ann Infinity', /amount/],
  ['/credits with a huge amount', '/credits grant console:ann 1000000000', /at most 1000000/],
  ['/credits with 1e308', '/credits grant console:ann 1e308', /at most 1000000|amount/],
  ['/credits with an underscore number', '/credits grant console:ann 1_000', /amount/],
  ['/credits with no amount', '/credits grant console:ann', /amount is missing|amount/],
  ['/credits to @everyone', '/credits grant @everyone 5', /platform:id/],
  ['/credits to @here', '/credits grant @here 5', /platform:id/],
  ['/credits to a too-short mention', '/credits grant <@123> 5', /platform:id/],
  ['/credits to a role mention', '/credits grant <@&123456789> 5', /platform:id/],
  ['/credits to a channel mention', '/credits grant <#123456789> 5', /platform:id/],
  ['/credits to an unknown platform', '/credits grant slack:123 5', /platform:id/],
  ['/credits to a path-like user', '/credits grant console:a/../b 5', /platform:id/],
  ['/credits to an overlong user', `/credits grant console:${long(101)} 5`, /user/],
  ['/credits to an empty user', '/credits grant "" 5', /user/],
  ['/credits taking more than the balance', '/credits take console:ann 999999', /./],
  ['/credits with an overlong reason', `/credits grant console:ann 5 ${long(301)}`, /at most 300/],
  ['/quota with a negative number', '/quota console:ann -1', />=0|0 to 10000/],
  ['/quota with a huge number', '/quota console:ann 10001', /<=10000|0 to 10000/],
  ['/quota with a word', '/quota console:ann lots', /0 to 10000/],
  ['/quota for @everyone', '/quota @everyone 5', /platform:id/],
  ['/ban with nothing', '/ban', /user/],
  ['/ban @everyone', '/ban @everyone', /platform:id/],
  ['/ban a user with an injected newline', '/ban "console:ann\nconsole:owner"', /platform:id/],
  ['/ban oneself', '/ban console:owner', /cannot ban yourself/],
  ['/ban with an overlong reason', `/ban console:ann ${long(301)}`, /at most 300/],
  ['/unban @here', '/unban @here', /platform:id/],
  ['/blocklist with an unknown action', '/blocklist nuke all', /use add, remove or list/],
  ['/blocklist add without a term', '/blocklist add', /Say which term/],
  ['/blocklist add with an overlong term', `/blocklist add ${long(101)}`, /at most 100/],
  ['/blocklist add with only punctuation', '/blocklist add "!!"', /at least 2 letters/],
  ['/blocklist remove of a term not there', '/blocklist remove nothere', /not on the blocklist/],
  ['/settings with a negative daily quota', '/settings --daily_quota -1', />=0|0 to 10000/],
  ['/settings with a huge daily quota', '/settings --daily_quota 10001', /<=10000|0 to 10000/],
  ['/settings with a word as daily quota', '/settings --daily_quota lots', /0 to 10000/],
  ['/settings with an unknown default model', '/settings --default_model nosuch', /no model called/],
  ['/settings with SQL as channels', '/settings --channels "1; DROP TABLE jobs"', /channel ids/],
  ['/settings with empty channels', '/settings --channels=', /channel ids/],
  [
    '/settings with 51 channels',
    `/settings --channels ${Array.from({ length: 51 }, (_, i) => String(i + 1)).join(',')}`,
    /channel ids/,
  ],
];

const MEMBER_REFUSALS: [string, string, RegExp][] = [
  ['a member granting credits', '/credits grant console:member 500', /moderator/i],
  ['a member banning someone', '/ban console:ann', /moderator/i],
  ['a member changing settings', '/settings --daily_quota 0', /moderator/i],
  ['a member refunding a job', '/refund zzzzzzzz', /moderator/i],
  ['a member adding to the blocklist', '/blocklist add fox', /moderator/i],
  ['a member setting a quota', '/quota console:member 10000', /moderator/i],
];

describe('hostile chat commands', () => {
  describe('when the parser or the prompt checks meet hostile text', () => {
    it.each(PARSER_AND_PROMPT)('refuses %s with a plain message and moves nothing', async (_what, text, reason) => {
      await expectRefusedWithoutLoss(text, reason);
    });
  });

  describe('when /video options are hostile', () => {
    it.each(VIDEO_OPTIONS)('refuses %s with a plain message and moves nothing', async (_what, text, reason) => {
      await expectRefusedWithoutLoss(text, reason);
    });
  });

  describe('when the other commands get hostile options', () => {
    it.each(OTHER_COMMANDS)('refuses %s with a plain message and moves nothing', async (_what, text, reason) => {
      await expectRefusedWithoutLoss(text, reason);
    });
  });

  describe('when a member tries a moderator command', () => {
    it.each(MEMBER_REFUSALS)('refuses %s and moves nothing', async (_what, text, reason) => {
      await expectRefusedWithoutLoss(text, reason, 'member', 'member');
    });
  });
});

const IMAGE_URLS: [string, string][] = [
  ['a file: URL', 'file:///etc/passwd'],
  ['a data: URL', 'data:image/png;base64,iVBORw0KGgo='],
  ['a javascript: URL', 'javascript:alert(1)'],
  ['an ftp: URL', 'ftp://127.0.0.1/a.png'],
  ['a gopher: URL', 'gopher://127.0.0.1:70/_x'],
  ['a URL over 2000 characters', `http://127.0.0.1/${long(2000)}.png`],
  ['a URL with an impossible port', 'http://127.0.0.1:99999/a.png'],
  ['loopback', 'http://127.0.0.1/a.png'],
  ['loopback in short form', 'http://127.1/a.png'],
  ['loopback as a decimal number', 'http://2130706433/a.png'],
  ['loopback in octal', 'http://0177.0.0.1/a.png'],
  ['loopback in hex', 'http://0x7f.0.0.1/a.png'],
  ['localhost by name', 'http://localhost:8080/a.png'],
  ['IPv6 loopback', 'http://[::1]/a.png'],
  ['IPv4-mapped IPv6 loopback', 'http://[::ffff:127.0.0.1]/a.png'],
  ['IPv4-mapped IPv6 loopback in hex', 'http://[::ffff:7f00:1]/a.png'],
  ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
  ['the metadata address, IPv6-mapped', 'http://[::ffff:169.254.169.254]/latest/meta-data/'],
  ['the metadata address as a decimal number', 'http://2852039166/latest/meta-data/'],
  ['the metadata host by name', 'http://metadata.google.internal/computeMetadata/v1/'],
  ['the AWS IPv6 metadata address', 'http://[fd00:ec2::254]/latest/meta-data/'],
  ['a CGNAT (Alibaba metadata) address', 'http://100.100.100.200/latest/meta-data/'],
  ['a 10/8 address', 'http://10.0.0.1/a.png'],
  ['a 172.16/12 address', 'http://172.16.0.1/a.png'],
  ['a 192.168/16 address', 'http://192.168.1.1/a.png'],
  ['the unspecified address', 'http://0.0.0.0/a.png'],
  ['a bare zero host', 'http://0/a.png'],
  ['the IPv6 unspecified address', 'http://[::]/a.png'],
  ['an IPv6 link-local address', 'http://[fe80::1]/a.png'],
  ['an IPv6 unique-local address', 'http://[fd12:3456::1]/a.png'],
  ['a NAT64 address carrying loopback', 'http://[64:ff9b::7f00:1]/a.png'],
  ['a 6to4 address carrying loopback', 'http://[2002:7f00:1::]/a.png'],
  ['a multicast address', 'http://224.0.0.1/a.png'],
  ['the broadcast address', 'http://255.255.255.255/a.png'],
  ['userinfo in front of loopback', 'http://user:pass@127.0.0.1/a.png'],
  ['a trusted-looking name as userinfo', 'http://cdn.example.com@127.0.0.1/a.png'],
  ['loopback before a fragment that looks like a host', 'http://127.0.0.1#@cdn.example.com/a.png'],
  ['a name resolving to a private address', 'http://evil.test/a.png'],
  ['userinfo in front of a private name', 'http://cdn.example.com@evil.test/a.png'],
  ['a name resolving to loopback on v4 and v6', 'http://rebind.test/a.png'],
  ['a name resolving to the LAN', 'https://lan.test/a.png'],
  ['a name resolving to IPv6 unique-local', 'https://v6local.test/a.png'],
  ['a name that does not resolve', 'http://nxdomain.test/a.png'],
];

describe('hostile image URLs on /video', () => {
  it.each(IMAGE_URLS)('refuses %s before any job exists', async (_what, url) => {
    await expectRefusedWithoutLoss(`/video a fox --image "${url}"`, /image|http\(s\) link|--image/);
  });

  it('never connected anywhere but through the fake resolver', () => {
    // Names the fetcher looked up are only ones from the table above (or the one that must not resolve).
    for (const name of dns.asked)
      expect([
        'localhost',
        'metadata.google.internal',
        'evil.test',
        'rebind.test',
        'lan.test',
        'v6local.test',
        'nxdomain.test',
      ]).toContain(name);
  });
});

describe('prompts that look hostile but are only text', () => {
  it.each([
    ['@everyone', '/video @everyone look at this fox'],
    ['a user mention', '/video <@123456789012345678> as a fox'],
    ['a role mention', '/video <@&123456789012345678> dancing'],
    ['SQL', "/video a fox'; DROP TABLE jobs; --"],
    ['HTML', '/video <script>alert(1)</script> a fox'],
    ['a template', '/video ${process.env.FAL_KEY} {{7*7}} a fox'],
    ['markdown links', '/video [click](http://127.0.0.1/) a fox'],
  ])('accepts a prompt with %s as plain text, holding the price once', async (what, text) => {
    const jobsBefore = await h.jobCount();
    const holdsBefore = await h.holdCount();
    const result = await run(text, 'member', `plain-${what.replace(/\W/g, '')}`);
    expect(result).toEqual({ ok: true, error: '', internal: false });
    expect(await h.jobCount()).toBe(jobsBefore + 1);
    expect(await h.holdCount()).toBe(holdsBefore + 1);
    const prompt = text.slice('/video '.length);
    const latest = (await h.rows.jobs()).at(-1)!;
    expect(latest.prompt).toBe(prompt);
  });
});
