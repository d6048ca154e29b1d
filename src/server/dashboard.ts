/**
 * The web dashboard, served at / by the daemon itself: the page, its script and its
 * stylesheet that `npm run build` put in dist/dashboard (scripts/build-dashboard.ts), sent
 * compressed to browsers that accept it. The files hold no secret, so they are served
 * without a token (the page logs in with POST /api/session); they are public paths for the
 * token check (auth.ts).
 *
 * The page's responses carry a Content-Security-Policy that allows scripts, styles and
 * connections from this origin only and no inline script, with the rest of Helmet's
 * headers (no framing, no MIME sniffing). The API's JSON answers do not: they are not
 * documents a browser renders, and the headers would cost every request.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import fastifyHelmet from '@fastify/helmet';
import fastifyStatic from '@fastify/static';

/** Where `npm run build` puts the dashboard: dist/dashboard/, seen from dist/src/server (the daemon) or src/server (tests run the sources). */
export const dashboardFiles = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../dashboard/' : '../../dist/dashboard/', import.meta.url));

/** The paths the dashboard serves, each readable without a token. */
export const dashboardPaths: readonly string[] = ['/', '/index.html', '/dashboard.js', '/dashboard.css'];

/** Whether the dashboard was built (npm run build); without it the daemon serves the API alone. */
export const dashboardBuilt = (root = dashboardFiles): boolean => existsSync(`${root}/index.html`);

export const contentSecurityPolicy = {
  useDefaults: false,
  directives: {
    defaultSrc: ["'self'"],
    scriptSrc: ["'self'"],
    styleSrc: ["'self'"],
    imgSrc: ["'self'", 'data:'],
    connectSrc: ["'self'"],
    fontSrc: ["'self'"],
    objectSrc: ["'none'"],
    baseUri: ["'none'"],
    formAction: ["'self'"],
    frameAncestors: ["'none'"],
  },
};

export async function dashboardRoutes(app: FastifyInstance, root = dashboardFiles): Promise<void> {
  await app.register(async (scope) => {
    // Helmet for these routes only (global: false); reply.helmet() applies its headers.
    // No HSTS: whether this host is reached over HTTPS alone is for its operator to decide,
    // not for a scheduler's page to pin in browsers for a year.
    await scope.register(fastifyHelmet, { global: false, contentSecurityPolicy, strictTransportSecurity: false });
    scope.addHook('onRequest', async (_request, reply) => {
      // The same path is sent Brotli, gzip or plain by the request's Accept-Encoding.
      reply.header('vary', 'accept-encoding');
      await reply.helmet();
    });
    await scope.register(fastifyStatic, {
      root,
      prefix: '/',
      // One route per file built, rather than a catch-all route that would answer every
      // unknown path (and every method's 405 check) with the static handler.
      wildcard: false,
      globIgnore: ['**/*.gz', '**/*.br', '**/*.json'],
      preCompressed: true,
      // The page at / is the route below: @fastify/static's own index route answers a request
      // that accepts compression by looking for "/.br", and falls through to a 405.
      index: false,
      // The page is small and changes with every build: browsers revalidate (ETag) each time.
      cacheControl: true,
      maxAge: 0,
    });
    scope.get('/', { schema: { hide: true } }, (_request, reply) => reply.sendFile('index.html'));
  });
}
