import { lookup } from 'node:dns/promises';
import type { SafeFetcherOptions } from '../../src/media/safe-fetch.js';

/**
 * Member URLs may lead to public addresses only, but every fake in the tests listens on loopback. This stands a
 * fake behind a public-looking name: `*.public.clipbot.example` resolves to one ordinary public address, which the
 * fetcher's policy judges (and allows) before the connection is dialled to 127.0.0.1 instead. Nothing ever connects
 * to the public address. Other names resolve as usual (and loopback stays refused for members).
 */
export const PUBLIC_STAND_IN = '93.184.215.14';
const SUFFIX = '.public.clipbot.example';

export const publicNetwork: Required<Pick<SafeFetcherOptions, 'lookup' | 'dialAddress'>> = {
  async lookup(hostname) {
    if (hostname.endsWith(SUFFIX)) return [{ address: PUBLIC_STAND_IN, family: 4 }];
    return lookup(hostname, { all: true });
  },
  dialAddress: (address) => (address === PUBLIC_STAND_IN ? '127.0.0.1' : address),
};

/** `http://127.0.0.1:4321/x.png` → `http://fake-4321.public.clipbot.example:4321/x.png`: the same fake, by a public name. */
export function viaPublicName(url: string): string {
  const parsed = new URL(url);
  parsed.hostname = `fake-${parsed.port || '80'}${SUFFIX}`;
  return parsed.toString();
}
