/**
 * Which methods each path of the API has, so that a request with a wrong method on an
 * existing path answers 405 with an `Allow` header (RFC 9110 §15.5.6) rather than 404. The
 * router tells only that no route matched; this table, filled as routes are registered,
 * tells whether the path exists with another method.
 */
export class AllowedMethods {
  /** By the source of the route's pattern. */
  private readonly routes = new Map<string, { pattern: RegExp; methods: Set<string> }>();

  /** Records that `url` (a route's path, with `:name` parameters) answers `method`. */
  add(url: string, method: string): void {
    const source = patternSource(url);
    let route = this.routes.get(source);
    if (!route) {
      route = { pattern: new RegExp(source), methods: new Set() };
      this.routes.set(source, route);
    }
    route.methods.add(method);
  }

  /** The methods the routes matching `path` (no query string) answer, sorted; empty when the path exists with none. */
  of(path: string): string[] {
    // The router ignores a trailing slash, so the table does too ("/api/tasks/" is "/api/tasks").
    const trimmed = path.length > 1 ? path.replace(/\/+$/, '') : path;
    const methods = new Set<string>();
    for (const route of this.routes.values()) {
      if (route.pattern.test(trimmed)) for (const method of route.methods) methods.add(method);
    }
    return [...methods].sort();
  }
}

/** "/api/tasks/:id/runs/:run" -> "^/api/tasks/[^/]+/runs/[^/]+$"; a parameter is one whole segment, as for the router. */
function patternSource(url: string): string {
  const escaped = url
    .split('/')
    .map((segment) => (segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return `^${escaped}$`;
}
