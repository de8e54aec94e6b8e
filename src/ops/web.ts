import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

/**
 * The miners' dashboard (web/, built by `npm run build` into dist/web): index.html for the page routes and the
 * two bundles under /assets, held in memory. The page reads only the JSON API; nothing is loaded from elsewhere.
 */

const PAGE_ROUTES = ['/', '/blocks', '/miners/', '/miners/:address'];
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

/** <package root>/dist/web, or LTCPOOL_WEB_DIR. */
export function defaultWebDir(): string {
  if (process.env.LTCPOOL_WEB_DIR) return process.env.LTCPOOL_WEB_DIR;
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'package.json'))) return path.join(dir, 'dist', 'web');
    const parent = path.dirname(dir);
    if (parent === dir) return path.resolve('dist', 'web');
    dir = parent;
  }
}

export function registerWeb(app: FastifyInstance, dir: string = defaultWebDir()): { built: boolean } {
  const indexFile = path.join(dir, 'index.html');
  if (!existsSync(indexFile)) {
    for (const route of PAGE_ROUTES) {
      app.get(route, async (_request, reply) =>
        reply.status(503).type('text/plain; charset=utf-8').send(`dashboard not built: run \`npm run build\` (looked for ${indexFile}); the JSON API is at /api/pool\n`));
    }
    return { built: false };
  }
  const index = readFileSync(indexFile);
  const assets = new Map<string, { body: Buffer; type: string }>();
  for (const name of ['app.js', 'app.css']) {
    const file = path.join(dir, 'assets', name);
    if (existsSync(file)) assets.set(name, { body: readFileSync(file), type: TYPES[path.extname(name)] });
  }
  for (const route of PAGE_ROUTES) {
    app.get(route, async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(index));
  }
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const asset = assets.get(request.params.name);
    if (!asset) return reply.status(404).send({ error: 'not found', statusCode: 404 });
    return reply.type(asset.type).header('cache-control', 'public, max-age=300').send(asset.body);
  });
  return { built: true };
}
