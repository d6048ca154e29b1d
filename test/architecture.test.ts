/**
 * The layering of src/, checked on its import graph: every import and export-from, static,
 * type-only or dynamic, between files of src/. It fails naming the edge that breaks a rule,
 * or the files of an import cycle. The rooms and what each may see are those of
 * docs/architecture.md: data flows one way, from the daemon's wiring through the server and
 * the engine down to the pure core; the CLI is a client of the protocol and never sees the
 * daemon's insides, and a client command starts without loading them.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/** A room of src/: a top-level folder (each store backend apart from the store's interface), or `root` for a file at the top. */
type Room = 'core' | 'protocol' | 'client' | 'cli' | 'server' | 'engine' | 'runner' | 'store' | 'store/sqlite' | 'store/postgres' | 'daemon' | 'metrics' | 'dashboard' | 'root';

/** An import of one file of src/ by another, as paths relative to src/. */
interface Edge {
  from: string;
  to: string;
  /** `load` when importing `from` loads `to` at once; `type` when only types are taken (erased), `dynamic` for import(). */
  kind?: 'load' | 'type' | 'dynamic';
}

/** The rooms each room may import from (its own included). */
const mayImport: Record<Room, readonly Room[]> = {
  core: ['core'],
  // The wire's schemas are built from the core's names, and publish its error registry and value formats.
  protocol: ['protocol', 'core'],
  client: ['client', 'protocol'],
  // root: version.ts, which reads the package's version and imports nothing of ours.
  cli: ['cli', 'client', 'protocol', 'root'],
  // The server declares what it needs of the engine and the store (server/ports.ts); the daemon hands them over.
  server: ['server', 'protocol', 'core'],
  // The store's interface (store/task-store.ts), never a backend; the runner's contract to start and watch runs.
  engine: ['engine', 'core', 'runner', 'store'],
  runner: ['runner', 'core'],
  store: ['store', 'core'],
  'store/sqlite': ['store/sqlite', 'store', 'core'],
  // A backend never sees the other one.
  'store/postgres': ['store/postgres', 'store', 'core'],
  // The metrics listen to the engine's activity (its TaskActivity port) and time the store from outside.
  metrics: ['metrics', 'core', 'engine'],
  // The composition root wires everything but the client side.
  daemon: ['daemon', 'core', 'protocol', 'engine', 'runner', 'store', 'store/sqlite', 'store/postgres', 'server', 'metrics', 'root'],
  // The browser's code: a client of the HTTP API that keeps its own view of the answers
  // (dashboard/views.ts), so that no server module, nor Node's, ends up in the page's bundle.
  dashboard: ['dashboard'],
  root: [],
};

/** Single edges allowed across the rules, each with its reason. */
const allowedEdges: ReadonlyArray<{ from: string; toRoom: Room; why: string }> = [
  {
    from: 'cli/commands/daemon.ts',
    toRoom: 'daemon',
    why: '`scheduler daemon` starts the composition root: its options statically, the daemon itself by a dynamic import so that client commands start without the server',
  },
];

const srcDir = new URL('../src/', import.meta.url);

function sourceFiles(dir = ''): string[] {
  return readdirSync(new URL(dir, srcDir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(`${path}/`);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Every import between files of src/; imports of packages and of node: are not ours and are left out. */
function importGraph(): Edge[] {
  const edges: Edge[] = [];
  for (const from of sourceFiles()) {
    const add = (specifier: string, kind: NonNullable<Edge['kind']>) => {
      if (specifier.startsWith('.')) edges.push({ from, to: posix.normalize(posix.join(posix.dirname(from), specifier)).replace(/\.js$/, '.ts'), kind });
    };
    // TypeScript's own parser: import and export-from statements, and import() calls anywhere.
    const visit = (node: ts.Node): void => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        add(node.moduleSpecifier.text, takesOnlyTypes(node) ? 'type' : 'load');
      } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword && node.arguments[0] && ts.isStringLiteral(node.arguments[0])) {
        add(node.arguments[0].text, 'dynamic');
      }
      ts.forEachChild(node, visit);
    };
    visit(ts.createSourceFile(from, readFileSync(new URL(from, srcDir), 'utf8'), ts.ScriptTarget.Latest));
  }
  return edges;
}

/**
 * Whether a statement takes types only, and so loads nothing at run time: `import type`, or
 * every name marked `type`. A plain import of a name used only as a type is counted as a
 * load, though the compiler drops it: the check errs on the side of a load.
 */
function takesOnlyTypes(node: ts.ImportDeclaration | ts.ExportDeclaration): boolean {
  if (ts.isExportDeclaration(node)) {
    return node.isTypeOnly || (node.exportClause !== undefined && ts.isNamedExports(node.exportClause) && node.exportClause.elements.every((name) => name.isTypeOnly));
  }
  const clause = node.importClause;
  if (!clause) return false;
  if (clause.isTypeOnly) return true;
  const names = clause.namedBindings;
  return clause.name === undefined && names !== undefined && ts.isNamedImports(names) && names.elements.length > 0 && names.elements.every((name) => name.isTypeOnly);
}

/** The files that loading `entry` loads at once: its imports, theirs, and so on, without types and import() calls. */
function loadedWith(entry: string, edges: readonly Edge[]): Set<string> {
  const loaded = new Set<string>();
  const pending = [entry];
  while (pending.length > 0) {
    const file = pending.pop()!;
    if (loaded.has(file)) continue;
    loaded.add(file);
    for (const edge of edges) if (edge.from === file && edge.kind === 'load') pending.push(edge.to);
  }
  return loaded;
}

function roomOf(file: string): Room | undefined {
  const parts = file.split('/');
  if (parts.length === 1) return 'root';
  if (parts[0] === 'store' && parts[1] === 'sqlite' && parts.length > 2) return 'store/sqlite';
  if (parts[0] === 'store' && parts[1] === 'postgres' && parts.length > 2) return 'store/postgres';
  return Object.hasOwn(mayImport, parts[0]!) ? (parts[0] as Room) : undefined;
}

/** The edges that break the rules, described. */
function layeringViolations(edges: readonly Edge[]): string[] {
  const violations: string[] = [];
  for (const { from, to } of edges) {
    const fromRoom = roomOf(from);
    const toRoom = roomOf(to);
    if (fromRoom === undefined || toRoom === undefined) {
      violations.push(`${from} -> ${to}: ${fromRoom === undefined ? from : to} is in no known room; add its folder to the rules of test/architecture.test.ts`);
      continue;
    }
    if (mayImport[fromRoom].includes(toRoom)) continue;
    if (allowedEdges.some((allowed) => allowed.from === from && allowed.toRoom === toRoom)) continue;
    violations.push(`${from} -> ${to}: ${fromRoom}/ may import only from ${mayImport[fromRoom].join(', ') || 'nothing of src/'}`);
  }
  return violations;
}

/** The import cycles, each as the files of one strongly connected component, in a path order. */
function importCycles(edges: readonly Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  // Tarjan's algorithm, recursive: the graph is a few hundred files.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (file: string): void => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    onStack.add(file);
    for (const to of next.get(file) ?? []) {
      if (!index.has(to)) {
        visit(to);
        low.set(file, Math.min(low.get(file)!, low.get(to)!));
      } else if (onStack.has(to)) {
        low.set(file, Math.min(low.get(file)!, index.get(to)!));
      }
    }
    if (low.get(file) !== index.get(file)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== file);
    const selfImport = (next.get(file) ?? []).includes(file);
    if (component.length > 1 || selfImport) components.push(component.reverse());
  };
  for (const file of new Set(edges.flatMap(({ from, to }) => [from, to]))) if (!index.has(file)) visit(file);
  return components;
}


describe('the import graph of src/', () => {
  const edges = importGraph();
  const has = (from: string, to: string) => edges.some((edge) => edge.from === from && edge.to === to);

  it('is read whole: static, type-only, export-from and dynamic imports', () => {
    expect(edges.length).toBeGreaterThan(200);
    expect(has('cli/commands/daemon.ts', 'daemon/run-until-signalled.ts'), 'the dynamic import of the daemon').toBe(true);
    expect(has('protocol/vocabulary.ts', 'core/task.ts'), 'an export-from').toBe(true);
    expect(has('server/app.ts', 'server/ports.ts'), 'an import type').toBe(true);
    expect(has('engine/engine.ts', 'core/transition.ts'), 'a plain import').toBe(true);
    const kind = (from: string, to: string) => edges.find((edge) => edge.from === from && edge.to === to)?.kind;
    expect(kind('cli/commands/daemon.ts', 'daemon/run-until-signalled.ts')).toBe('dynamic');
    expect(kind('server/app.ts', 'server/ports.ts')).toBe('type');
    expect(kind('server/app.ts', 'server/auth.ts')).toBe('load');
  });

  it('lets the CLI start without the daemon\'s modules: only `scheduler daemon` loads them', () => {
    const daemonSide = ['server/', 'engine/', 'runner/', 'store/', 'daemon/daemon.ts'];
    const loaded = [...loadedWith('cli/main.ts', edges)].filter((file) => daemonSide.some((side) => file.startsWith(side)));
    expect(loaded.sort()).toEqual([]);
  });

  it('keeps every room to the rooms it may import from', () => {
    expect(layeringViolations(edges)).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles = importCycles(edges);
    expect(cycles.map((cycle) => `${cycle.join(' -> ')} -> ${cycle[0]}`)).toEqual([]);
  });
});

describe('the checks themselves', () => {
  it('name an edge that breaks a rule, and let the allowed ones through', () => {
    expect(
      layeringViolations([
        { from: 'cli/commands/list.ts', to: 'core/task.ts' },
        { from: 'server/app.ts', to: 'store/task-store.ts' },
        { from: 'engine/engine.ts', to: 'store/sqlite/sqlite-store.ts' },
        { from: 'store/postgres/migrate.ts', to: 'store/sqlite/migrations.ts' },
        { from: 'store/postgres/migrate.ts', to: 'core/errors.ts' },
        { from: 'cli/commands/daemon.ts', to: 'daemon/daemon.ts' },
        { from: 'cli/commands/get.ts', to: 'daemon/daemon.ts' },
        { from: 'server/app.ts', to: 'protocol/schemas.ts' },
        { from: 'gadgets/x.ts', to: 'core/task.ts' },
      ]),
    ).toEqual([
      'cli/commands/list.ts -> core/task.ts: cli/ may import only from cli, client, protocol, root',
      'server/app.ts -> store/task-store.ts: server/ may import only from server, protocol, core',
      'engine/engine.ts -> store/sqlite/sqlite-store.ts: engine/ may import only from engine, core, runner, store',
      'store/postgres/migrate.ts -> store/sqlite/migrations.ts: store/postgres/ may import only from store/postgres, store, core',
      'cli/commands/get.ts -> daemon/daemon.ts: cli/ may import only from cli, client, protocol, root',
      'gadgets/x.ts -> core/task.ts: gadgets/x.ts is in no known room; add its folder to the rules of test/architecture.test.ts',
    ]);
  });

  it('follow what a file loads at once, not its types nor its import() calls', () => {
    const loaded = loadedWith('a.ts', [
      { from: 'a.ts', to: 'b.ts', kind: 'load' },
      { from: 'b.ts', to: 'c.ts', kind: 'load' },
      { from: 'a.ts', to: 'd.ts', kind: 'type' },
      { from: 'b.ts', to: 'e.ts', kind: 'dynamic' },
    ]);
    expect([...loaded].sort()).toEqual(['a.ts', 'b.ts', 'c.ts']);
  });

  it('find a cycle of any length, and a file that imports itself', () => {
    const cycles = importCycles([
      { from: 'a.ts', to: 'b.ts' },
      { from: 'b.ts', to: 'c.ts' },
      { from: 'c.ts', to: 'a.ts' },
      { from: 'c.ts', to: 'd.ts' },
      { from: 'e.ts', to: 'e.ts' },
    ]);
    expect(cycles.map((cycle) => [...cycle].sort())).toEqual([['a.ts', 'b.ts', 'c.ts'], ['e.ts']]);
  });
});
