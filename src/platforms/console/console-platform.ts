import type { ChatPlatform, JobDestination, MessageRef, ResultDelivery, StatusView } from '../../core/ports.js';

/**
 * The console as a chat platform: status messages are lines in the terminal. In a terminal session a
 * status line is redrawn in place while nothing else was printed after it; otherwise (one-shot runs,
 * pipes, CI) every update is printed on its own line so the log reads top to bottom.
 */
export interface ConsoleOutput {
  /** Prints a line of chat output. */
  print(text: string): void;
  /** Replaces the last printed line when it was the status of `key` (redraw in place); else prints. */
  printStatus(key: string, text: string): void;
  /** Something outside our control (the user's typing) moved the cursor: stop redrawing in place. */
  interrupted(): void;
}

export function createLineOutput(
  stream: NodeJS.WritableStream,
  redraw: boolean,
  onWrite: () => void = () => {},
): ConsoleOutput {
  let lastStatusKey: string | undefined;
  return {
    print(text) {
      stream.write(`${text}\n`);
      lastStatusKey = undefined;
      onWrite();
    },
    printStatus(key, text) {
      const line = text.replace(/\n+/g, ' · ');
      if (redraw && lastStatusKey === key) stream.write(`\x1b[1A\r\x1b[2K${line}\n`);
      else stream.write(`${line}\n`);
      lastStatusKey = key;
      onWrite();
    },
    interrupted() {
      lastStatusKey = undefined;
    },
  };
}

export function createConsolePlatform(output: ConsoleOutput): ChatPlatform {
  return {
    id: 'console',
    async postStatus(_dest: JobDestination, view: StatusView): Promise<MessageRef> {
      output.printStatus(view.jobId, view.text);
      return { platform: 'console', chatId: 'console', messageId: view.jobId };
    },
    async editStatus(ref: MessageRef, view: StatusView): Promise<boolean> {
      output.printStatus(ref.messageId, view.text);
      return true;
    },
    async deliver(_dest: JobDestination, delivery: ResultDelivery): Promise<{ ref: string }> {
      const size = `${(delivery.media.bytes / 1024).toFixed(0)} KiB`;
      output.print(`🎬 ${delivery.text}`);
      if (delivery.localPath) output.print(`   file: ${delivery.localPath} (${size})`);
      output.print(`   link: ${delivery.media.url}`);
      // The console has no buttons: the follow-ups this clip offers, as the commands that make them.
      const offer = delivery.followups;
      for (const { resolution, price } of offer?.upscaleTo ?? [])
        output.print(`   upscale: /upscale ${delivery.jobId} ${resolution} (${price} credits)`);
      if (offer?.extend)
        output.print(`   extend: /extend ${delivery.jobId} <what happens next> (${offer.extend.price} credits)`);
      return { ref: `console:${delivery.jobId}` };
    },
    async notify(_dest: JobDestination, text: string): Promise<void> {
      output.print(`⚠ ${text}`);
    },
  };
}
