import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaError } from '../../src/core/errors.js';
import { createAddressPolicy } from '../../src/media/address-policy.js';
import { createSafeFetcher, type SafeFetcher } from '../../src/media/safe-fetch.js';
import { fakeDns, recordConnections } from './fixtures.js';

describe('createAddressPolicy', () => {
  describe('when no range is allowed', () => {
    const policy = createAddressPolicy([]);

    it.each([
      ['loopback', '127.0.0.1'],
      ['the top of loopback', '127.255.255.254'],
      ['RFC 1918 10/8', '10.0.0.1'],
      ['RFC 1918 172.16/12', '172.16.0.1'],
      ['RFC 1918 172.16/12 (top)', '172.31.255.255'],
      ['RFC 1918 192.168/16', '192.168.1.1'],
      ['CGNAT', '100.64.0.1'],
      ['the cloud metadata address', '169.254.169.254'],
      ['IPv4 link-local', '169.254.1.1'],
      ['the unspecified IPv4 address', '0.0.0.0'],
      ['"this network"', '0.1.2.3'],
      ['broadcast', '255.255.255.255'],
      ['IPv4 multicast', '224.0.0.1'],
      ['reserved 240/4', '240.0.0.1'],
      ['documentation TEST-NET-1', '192.0.2.1'],
      ['documentation TEST-NET-2', '198.51.100.1'],
      ['documentation TEST-NET-3', '203.0.113.1'],
      ['benchmarking', '198.18.0.1'],
      ['IETF protocol assignments', '192.0.0.1'],
      ['the unspecified IPv6 address', '::'],
      ['IPv6 loopback', '::1'],
      ['bracketed IPv6 loopback', '[::1]'],
      ['unique-local fd00::/8', 'fd00::1'],
      ['unique-local fc00::/8', 'fc00::1'],
      ['IPv6 link-local', 'fe80::1'],
      ['IPv6 link-local with a zone', 'fe80::1%eth0'],
      ['deprecated site-local', 'fec0::1'],
      ['IPv6 multicast', 'ff02::1'],
      ['IPv4-mapped loopback (dotted)', '::ffff:127.0.0.1'],
      ['IPv4-mapped loopback (hex)', '::ffff:7f00:1'],
      ['IPv4-mapped private', '::ffff:10.0.0.1'],
      ['IPv4-mapped metadata', '::ffff:169.254.169.254'],
      ['IPv4-compatible loopback', '::127.0.0.1'],
      ['IPv4-compatible public (deprecated form)', '::8.8.8.8'],
      ['IPv4-compatible public (hex)', '::808:808'],
      ['SIIT-translated loopback', '::ffff:0:127.0.0.1'],
      ['NAT64 of a private address', '64:ff9b::a00:1'],
      ['NAT64 of loopback', '64:ff9b::7f00:1'],
      ['local-use NAT64', '64:ff9b:1::808:808'],
      ['6to4 of loopback', '2002:7f00:1::'],
      ['6to4 of a private address', '2002:a00:1::1'],
      ['6to4 of the metadata address', '2002:a9fe:a9fe::'],
      ['Teredo', '2001:0:4136:e378:8000:63bf:3fff:fdd2'],
      ['IPv6 documentation', '2001:db8::1'],
      ['IPv6 documentation (RFC 9637)', '3fff::1'],
      ['discard-only', '100::1'],
      ['outside 2000::/3', '4000::1'],
      ['decimal loopback', '2130706433'],
      ['octal loopback', '0177.0.0.1'],
      ['hex short loopback', '0x7f.1'],
      ['short loopback', '127.1'],
    ])('refuses %s (%s)', (_name, ip) => {
      expect(policy.isAllowed(ip)).toBe(false);
    });

    it.each([['example.com'], [''], ['not an ip'], ['1.2.3.4.5'], ['::ffff:999.0.0.1']])(
      'refuses %j, which is no address',
      (ip) => {
        expect(policy.isAllowed(ip)).toBe(false);
      },
    );

    it.each([
      ['a public IPv4 address', '93.184.216.34'],
      ['a public resolver', '8.8.8.8'],
      ['a public IPv6 address', '2606:4700:4700::1111'],
      ['an IPv4-mapped public address', '::ffff:8.8.8.8'],
      ['NAT64 of a public address', '64:ff9b::808:808'],
      ['6to4 of a public address', '2002:808:808::1'],
      ['next to the private ranges', '172.32.0.1'],
      ['next to CGNAT', '100.128.0.1'],
    ])('allows %s (%s)', (_name, ip) => {
      expect(policy.isAllowed(ip)).toBe(true);
    });
  });

  describe('when ranges are allowed', () => {
    it('exempts addresses inside them and nothing else', () => {
      const policy = createAddressPolicy(['127.0.0.0/8', '::1/128']);
      expect(policy.isAllowed('127.0.0.1')).toBe(true);
      expect(policy.isAllowed('127.0.0.2')).toBe(true);
      expect(policy.isAllowed('::1')).toBe(true);
      expect(policy.isAllowed('10.0.0.1')).toBe(false);
      expect(policy.isAllowed('169.254.169.254')).toBe(false);
      expect(policy.isAllowed('8.8.8.8')).toBe(true);
    });

    it('judges an IPv4-mapped address by its IPv4 range', () => {
      const policy = createAddressPolicy(['127.0.0.0/8']);
      expect(policy.isAllowed('::ffff:127.0.0.1')).toBe(true);
      expect(policy.isAllowed('::ffff:10.0.0.1')).toBe(false);
    });

    it('keeps a /32 to exactly that address', () => {
      const policy = createAddressPolicy(['127.0.0.1/32']);
      expect(policy.isAllowed('127.0.0.1')).toBe(true);
      expect(policy.isAllowed('127.0.0.2')).toBe(false);
      expect(policy.isAllowed('::1')).toBe(false);
    });

    it('accepts a single address as a one-address range', () => {
      const policy = createAddressPolicy(['10.1.2.3', 'fd00::5']);
      expect(policy.isAllowed('10.1.2.3')).toBe(true);
      expect(policy.isAllowed('10.1.2.4')).toBe(false);
      expect(policy.isAllowed('fd00::5')).toBe(true);
    });
  });

  describe('when an allowed range is malformed', () => {
    it.each([
      ['nonsense'],
      ['10.0.0.0/33'],
      ['10.0.0.0/'],
      ['/8'],
      ['10.1/8'],
      ['0x7f.0.0.1/8'],
      ['::1/129'],
      ['10.0.0.0/8/8'],
      ['10.0.0.0/-1'],
      [''],
    ])('throws an error naming %j', (entry) => {
      expect(() => createAddressPolicy(['127.0.0.0/8', entry])).toThrowError(
        new RegExp(`FETCH_ALLOW_CIDRS: "${entry.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}" is not an address range`),
      );
    });
  });
});

describe('createSafeFetcher URL handling', () => {
  let dir: string;
  let fetcher: SafeFetcher;
  let dns: ReturnType<typeof fakeDns>;
  let connections: ReturnType<typeof recordConnections>;

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'clipbot-policy-'));
    dns = fakeDns({ localhost: ['127.0.0.1'], 'example.com': ['93.184.216.34'], 'metadata.test': ['169.254.169.254'] });
    fetcher = createSafeFetcher({ allowCidrs: [], deadlineMs: 2000, lookup: dns.lookup });
    connections = recordConnections();
  });

  afterEach(async () => {
    connections.stop();
    await fetcher.close();
    await rm(dir, { recursive: true, force: true });
  });

  const refusal = async (url: string): Promise<MediaError> => {
    const dest = path.join(dir, 'out.bin');
    const error: unknown = await fetcher
      .fetchToFile(url, dest, { trust: 'operator', kind: 'video', maxBytes: 1024 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(MediaError);
    expect(existsSync(dest)).toBe(false);
    return error as MediaError;
  };

  describe('when the URL names a blocked address in any spelling', () => {
    it.each([
      ['http://127.0.0.1/v.mp4'],
      ['http://2130706433/v.mp4'],
      ['http://0177.0.0.1/v.mp4'],
      ['http://0x7f.1/v.mp4'],
      ['http://127.1/v.mp4'],
      ['http://[::ffff:7f00:1]/v.mp4'],
      ['http://[::ffff:127.0.0.1]/v.mp4'],
      ['http://[::1]/v.mp4'],
      ['http://[::]/v.mp4'],
      ['http://0.0.0.0/v.mp4'],
      ['http://169.254.169.254/latest/meta-data/'],
      ['http://[fd00::1]/v.mp4'],
      ['http://[fe80::1]/v.mp4'],
      ['http://10.0.0.1/v.mp4'],
      ['https://192.168.0.1/v.mp4'],
      ['http://100.64.0.1/v.mp4'],
      ['http://127.0.0.1#@example.com/'],
      ['http://127.0.0.1:80\\@example.com/'],
    ])('refuses %s without a DNS query or a connection', async (url) => {
      const error = await refusal(url);
      expect(error.kind).toBe('blocked_address');
      expect(dns.asked).toEqual([]);
      expect(connections.attempted).toEqual([]);
    });
  });

  describe('when a name resolves to a blocked address', () => {
    it.each([['http://localhost/v.mp4'], ['http://metadata.test/latest/meta-data/']])(
      'refuses %s at connect time, before any socket connects',
      async (url) => {
        const error = await refusal(url);
        expect(error.kind).toBe('blocked_address');
        expect(dns.asked.length).toBe(1);
        expect(connections.connected).toEqual([]);
      },
    );
  });

  describe('when the URL carries credentials', () => {
    it('refuses the userinfo trick http://example.com@127.0.0.1/', async () => {
      const error = await refusal('http://example.com@127.0.0.1/');
      expect(error.kind).toBe('bad_url');
      expect(connections.attempted).toEqual([]);
    });

    it('refuses credentials even for a public host', async () => {
      const error = await refusal('https://user:secret@example.com/v.mp4');
      expect(error.kind).toBe('bad_url');
      expect(error.message).not.toContain('secret');
      expect(connections.attempted).toEqual([]);
    });
  });

  describe('when the scheme is not http or https', () => {
    it.each([
      ['file:///etc/passwd'],
      ['ftp://example.com/v.mp4'],
      ['gopher://127.0.0.1:6379/_INFO'],
      ['data:video/mp4;base64,AAAA'],
      ['not a url'],
    ])('refuses %s', async (url) => {
      const error = await refusal(url);
      expect(error.kind).toBe('bad_url');
      expect(connections.attempted).toEqual([]);
    });
  });
});
