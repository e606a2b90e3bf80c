import { describe, expect, it } from 'vitest';
import { findCommand } from '../../commands/index.js';
import { parseCommandText, type ParsedText } from '../../commands/parse-text.js';

/** Parses with the real registry; fails the test with the parser's message if it refused. */
function parse(text: string): { command: string; raw: Record<string, string | boolean> } {
  const result = parseCommandText(text, findCommand);
  if (!result.ok) throw new Error(`expected ${JSON.stringify(text)} to parse, got: ${result.error}`);
  return { command: result.command.name, raw: result.raw };
}

function refusal(text: string): string {
  const result: ParsedText = parseCommandText(text, findCommand);
  if (result.ok) throw new Error(`expected ${JSON.stringify(text)} to be refused, got ${JSON.stringify(result.raw)}`);
  return result.error;
}

describe('parseCommandText', () => {
  describe('when a command has positional options', () => {
    it('gives the rest of the line to the last positional option', () => {
      expect(parse('/video a red fox running through snow')).toEqual({
        command: 'video',
        raw: { prompt: 'a red fox running through snow' },
      });
    });

    it('fills earlier positional options one word each, in order', () => {
      expect(parse('/credits grant console:ann 50 for the contest win').raw).toEqual({
        action: 'grant',
        user: 'console:ann',
        amount: '50',
        reason: 'for the contest win',
      });
    });

    it('leaves positional options it has no words for unset', () => {
      expect(parse('/cancel').raw).toEqual({});
      expect(parse('/ban discord:1234').raw).toEqual({ user: 'discord:1234' });
    });

    it('lets an option given as a flag win over the positional word', () => {
      expect(parse('/history --limit 3').raw).toEqual({ limit: '3' });
      expect(parse('/ban ann --reason spam').raw).toEqual({ user: 'ann', reason: 'spam' });
    });

    it('accepts the command name in any case', () => {
      expect(parse('/VIDEO A Fox').command).toBe('video');
    });
  });

  describe('when options are given as flags', () => {
    it('reads --flag value', () => {
      expect(parse('/video a fox --duration 5 --resolution 720p').raw).toEqual({
        prompt: 'a fox',
        duration: '5',
        resolution: '720p',
      });
    });

    it('reads --flag=value', () => {
      expect(parse('/video a fox --duration=5 --seed=42').raw).toEqual({ prompt: 'a fox', duration: '5', seed: '42' });
    });

    it('takes flags from anywhere on the line, the words around them forming the prompt', () => {
      expect(parse('/video --resolution 480p a fox --duration 3 in the snow').raw).toEqual({
        prompt: 'a fox in the snow',
        resolution: '480p',
        duration: '3',
      });
    });

    it('reads a quoted value as one value, without its quotes', () => {
      expect(parse('/video a fox --resolution "720p" --aspect \'9:16\'').raw).toEqual({
        prompt: 'a fox',
        resolution: '720p',
        aspect: '9:16',
      });
      expect(parse('/ban ann "spamming links in every channel"').raw).toEqual({
        user: 'ann',
        reason: 'spamming links in every channel',
      });
    });

    it('reads a quoted --flag="value" without its quotes, spaces included', () => {
      expect(parse('/video a fox --resolution="720p"').raw).toEqual({ prompt: 'a fox', resolution: '720p' });
      expect(parse('/ban ann --reason="spam links"').raw).toEqual({ user: 'ann', reason: 'spam links' });
      expect(parse("/ban ann --reason='spam links'").raw).toEqual({ user: 'ann', reason: 'spam links' });
    });

    it('reads a bare flag at the end of the line, or before another flag, as true', () => {
      expect(parse('/video a fox --camera_fixed').raw).toEqual({ prompt: 'a fox', camera_fixed: true });
      expect(parse('/video a fox --camera_fixed --audio').raw).toEqual({
        prompt: 'a fox',
        camera_fixed: true,
        audio: true,
      });
    });

    it('never lets a bare yes/no option swallow the prompt word after it', () => {
      expect(parse('/video --camera_fixed a fox').raw).toEqual({ prompt: 'a fox', camera_fixed: true });
      expect(parse('/video --audio off a fox').raw).toEqual({ prompt: 'a fox', audio: 'off' });
    });

    it('keeps quotes that are part of a prompt', () => {
      expect(parse('/video a neon sign that says "open late" --duration 5').raw).toEqual({
        prompt: 'a neon sign that says "open late"',
        duration: '5',
      });
    });

    it('maps the dash form --camera-fixed to the camera_fixed option', () => {
      expect(parse('/video a fox --camera-fixed').raw).toEqual({ prompt: 'a fox', camera_fixed: true });
      expect(parse('/video a fox --camera-fixed=false').raw).toEqual({ prompt: 'a fox', camera_fixed: 'false' });
      expect(parse('/video a fox --CAMERA-FIXED no').raw).toEqual({ prompt: 'a fox', camera_fixed: 'no' });
    });
  });

  describe('when the command is addressed to a bot by name', () => {
    it('reads /video@botname as /video', () => {
      expect(parse('/video@clipbot_bot a red fox')).toEqual({ command: 'video', raw: { prompt: 'a red fox' } });
      expect(parse('/help@clipbot_bot')).toEqual({ command: 'help', raw: {} });
    });
  });

  describe('when the line is not a known command', () => {
    it('refuses an unknown command and points to /help', () => {
      expect(refusal('/teleport me home')).toBe('There is no command /teleport. Try /help.');
    });

    it('refuses text that is not a command and shows how one looks', () => {
      expect(refusal('make me a video of a fox')).toMatch(/start with \/.*\/help/);
      expect(refusal('')).toMatch(/start with \//);
    });
  });

  describe('when an option is unknown', () => {
    it('names the unknown option and lists the options the command has', () => {
      const error = refusal('/video a fox --colour red');
      expect(error).toContain('/video has no option --colour');
      for (const option of [
        '--image',
        '--model',
        '--duration',
        '--resolution',
        '--aspect',
        '--seed',
        '--camera_fixed',
        '--audio',
      ]) {
        expect(error).toContain(option);
      }
      // Positional options are not offered as flags.
      expect(error).not.toContain('--prompt');
    });

    it('says so plainly for a command that has no flags at all', () => {
      expect(refusal('/balance --verbose')).toBe('/balance has no option --verbose.');
    });

    it('shortens an absurdly long option name in the message', () => {
      const error = refusal(`/video a fox --${'x'.repeat(500)}`);
      expect(error.length).toBeLessThan(200);
    });
  });

  describe('when a command takes no positional words', () => {
    it('refuses the extra words, quoting them, and points to its help', () => {
      expect(refusal('/balance now please')).toBe('/balance does not take “now please”. See /help balance.');
      expect(refusal('/stats for today')).toContain('See /help stats');
    });

    it('quotes at most 40 characters of them', () => {
      const error = refusal(`/models ${'word '.repeat(50)}`);
      expect(error).toMatch(/“.{1,40}”/);
      expect(error.length).toBeLessThan(100);
    });
  });

  describe('when the line is too long', () => {
    it('refuses a line over 4000 characters before reading it', () => {
      expect(refusal(`/video ${'a'.repeat(4000)}`)).toBe('That message is too long (over 4000 characters).');
    });

    it('accepts a line of exactly 4000 characters', () => {
      const line = `/video ${'a'.repeat(4000 - '/video '.length)}`;
      expect(line).toHaveLength(4000);
      expect(parse(line).command).toBe('video');
    });
  });
});
