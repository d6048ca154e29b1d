/**
 * Where a browser says a request comes from, for the session cookie's defence against
 * cross-site request forgery. A browser attaches the cookie to requests that other sites'
 * pages make too (SameSite=Strict keeps it off cross-site ones, but not off those of a
 * sibling subdomain, and not in every browser), so a change made with the cookie must also
 * say it comes from the daemon's own pages.
 *
 * Browsers tell it in `Sec-Fetch-Site` (every current one); older ones only in `Origin`,
 * which is then compared with the request's own origin: its scheme (https when the daemon
 * serves TLS) and its Host header. Programs that send neither (curl, the CLI) use bearer
 * tokens, which no page can make a browser send.
 */
import type { FastifyRequest } from 'fastify';
import { SchedulerError } from '../core/errors.js';

/** same: the daemon's own page, or the user typing the address; cross: another site's page; unknown: the request does not say. */
export type RequestSite = 'same' | 'cross' | 'unknown';

export function requestSite(request: FastifyRequest): RequestSite {
  const fetchSite = request.headers['sec-fetch-site'];
  // "same-site" is refused too: a sibling subdomain is another origin, and may be another party's.
  if (fetchSite !== undefined) return fetchSite === 'same-origin' || fetchSite === 'none' ? 'same' : 'cross';
  const origin = request.headers.origin;
  if (origin === undefined) return 'unknown';
  // `Origin: null` (a sandboxed frame, a redirect across sites) never equals it.
  return origin.toLowerCase() === `${request.protocol}://${request.host}`.toLowerCase() ? 'same' : 'cross';
}

/** Methods that change nothing, which a page of another site may make a browser send without harm. */
export const readMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The refusal of a change a browser says another site's page sent, whatever the request's
 * credentials; undefined for any other request. A daemon that asks for no token (the default
 * on loopback) would otherwise let any web page the user opens start, pause or kill its tasks
 * with a request a browser sends without asking (a POST without a body). Programs (curl, the
 * CLI) send neither header and are not concerned; nor is a request with a bearer token, which
 * a page cannot make a browser send to another site without a preflight the daemon does not grant.
 */
export function crossSiteRefusal(request: FastifyRequest): SchedulerError | undefined {
  if (readMethods.has(request.method) || request.headers.authorization !== undefined || requestSite(request) !== 'cross') return undefined;
  return new SchedulerError(
    'forbidden',
    `a page of another site cannot change anything here (${request.method} ${request.url.split('?')[0]}): use the dashboard on the daemon's own address, or send a bearer token`,
  );
}
