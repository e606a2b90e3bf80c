import type { CommandDeps } from '../../commands/types.js';
import type { ChatPlatform, HttpRoute } from '../core/ports.js';

/**
 * A chat platform as the composition root sees it: the `ChatPlatform` port the engine talks to, plus the
 * intake side (gateway, long polling, webhooks) that turns members' messages into commands.
 * `start` gets the command dependencies, which exist only once the engine does (the engine needs `platform`).
 */
export interface PlatformAdapter {
  readonly platform: ChatPlatform;
  /** Routes this platform needs on the bot's HTTP server (e.g. the Telegram webhook). */
  readonly httpRoutes?: readonly HttpRoute[];
  start(deps: CommandDeps): Promise<void>;
  /** Who the bot is on this platform once started (for the start-up line); the Discord application id too. */
  identity?(): { name: string; applicationId?: string } | undefined;
  /** Stops taking new commands; the engine finishes or parks in-flight jobs separately. */
  stop(): Promise<void>;
}
