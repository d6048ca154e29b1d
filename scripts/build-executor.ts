/**
 * Builds the executor (src/executor/scheduler-executor.c) into dist/executor/, as part of
 * `npm run build`, with the machine's C compiler ($CC, else cc). Without one the build goes
 * on and says so: the daemon then spawns runs itself (slower when many start at once; see
 * docs/execution.md).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const source = join(root, 'src', 'executor', 'scheduler-executor.c');
const program = join(root, 'dist', 'executor', 'scheduler-executor');

function modified(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

const built = modified(program);
if (built !== undefined && built >= (modified(source) ?? 0)) process.exit(0);

mkdirSync(dirname(program), { recursive: true });
const compiler = process.env.CC || 'cc';
const result = spawnSync(compiler, ['-O2', '-Wall', '-Wextra', '-Werror', '-o', program, source], { stdio: ['ignore', 'inherit', 'inherit'] });
if (result.error || result.status !== 0) {
  const why = result.error ? `${compiler} could not be run (${(result.error as NodeJS.ErrnoException).code})` : `${compiler} failed`;
  console.warn(
    `scheduler: the executor was not built: ${why}. The daemon will spawn runs itself, which is slower when many start at once; ` +
      'install a C compiler (apt-get install gcc) and run `npm run build` again.',
  );
}
