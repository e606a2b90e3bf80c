import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { createHttpServer, type HttpServer } from '../../src/server/http-server.js';
import { mp4Bytes } from '../media/fixtures.js';

/**
 * /media/* against links planted in the media folder (issue 11, finding 8): a symlinked directory on the way to a
 * key must not lead the route out of the media root, whatever the file at the end is.
 */

let dir: string;
let mediaDir: string;
let server: HttpServer;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'clipbot-media-route-'));
  mediaDir = path.join(dir, 'media');
  const outside = path.join(dir, 'outside');
  await mkdir(path.join(mediaDir, 'results'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(outside, 'secret.mp4'), 'SECRET OUTSIDE THE MEDIA ROOT');
  await writeFile(path.join(mediaDir, 'results', 'job-1.mp4'), mp4Bytes(4096));
  // A directory link out of the root, at the top and one level down.
  await symlink(outside, path.join(mediaDir, 'inputs'));
  await symlink(outside, path.join(mediaDir, 'results', 'old'));
  // A directory link that stays inside the root is harmless, but the rule is the real path, so it is served.
  await symlink(path.join(mediaDir, 'results'), path.join(mediaDir, 'alias'));
  server = createHttpServer({ mediaDir, logger: silentLogger, webhooks: async () => ({ status: 200, body: {} }) });
});
afterEach(async () => rm(dir, { recursive: true, force: true }));

const get = (key: string) => server.app.request(`http://localhost/media/${key}`);

describe('/media/* with symlinked directories in the media folder', () => {
  it.each([
    ['a top-level directory link to outside', 'inputs/secret.mp4'],
    ['a nested directory link to outside', 'results/old/secret.mp4'],
  ])('refuses a key through %s (404, no bytes)', async (_case, key) => {
    const res = await get(key);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('SECRET');
  });

  it('still serves ordinary files', async () => {
    const res = await get('results/job-1.mp4');
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).length).toBe(4096);
  });

  it('serves a file whose real path stays inside the root', async () => {
    expect((await get('alias/job-1.mp4')).status).toBe(200);
  });

  describe('when the media root itself is a link (DATA_DIR/media on another disk)', () => {
    it('serves files under it', async () => {
      const linkedRoot = path.join(dir, 'media-link');
      await symlink(mediaDir, linkedRoot);
      const s = createHttpServer({
        mediaDir: linkedRoot,
        logger: silentLogger,
        webhooks: async () => ({ status: 200, body: {} }),
      });
      expect((await s.app.request('http://localhost/media/results/job-1.mp4')).status).toBe(200);
      expect((await s.app.request('http://localhost/media/inputs/secret.mp4')).status).toBe(404);
    });
  });
});
