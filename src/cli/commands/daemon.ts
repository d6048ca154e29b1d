/** scheduler daemon: runs the server in the foreground until SIGINT or SIGTERM. */
import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { parseByteSize } from '../../core/byte-size.js';
import { parseDuration } from '../../core/duration.js';
import { SchedulerError } from '../../core/errors.js';
import { loadConfigFile } from '../../config-file.js';
import { sandboxModes, type SandboxMode } from '../../core/execution-input.js';
import { defaultDataDir, defaultListen, defaults, loadToken, parseListen } from '../../daemon-config.js';
import { defaultMaxRuns } from '../../runner/concurrency-gate.js';
import type { CliIo } from '../context.js';

interface DaemonOptions {
  listen: string;
  dataDir: string;
  tokenFile?: string;
  config?: string;
  keepRuns: string;
  outputCap: string;
  maxOutputTotal: string;
  heartbeat: string;
  maxScriptBytes: string;
  killGrace: string;
  durability: 'normal' | 'full';
  logLevel: string;
  maxRuns: string;
  sandbox: SandboxMode;
}

export function daemonCommand(io: CliIo): Command {
  return new Command('daemon')
    .description('run the scheduler daemon (HTTP API and engine) in the foreground')
    .option('--listen <host:port>', 'address to listen on; other than loopback needs a token', defaultListen)
    .option('--data-dir <dir>', 'where the database and spooled output live', defaultDataDir())
    .option('--token-file <file>', 'require this bearer token (default: $SCHEDULER_TOKEN, if set)')
    .option('--config <file>', 'a JSON config file: languages, variables for every run, queues, default limits, sandbox paths (see the README)')
    .option('--max-runs <n>', 'runs executing at once, over every queue; later ones wait in order', String(defaultMaxRuns()))
    .addOption(new Option('--sandbox <mode>', 'optional: tasks opt in with --sandbox; default: tasks opt out with --no-sandbox; required: every task is sandboxed').choices([...sandboxModes]).default('optional'))
    .option('--keep-runs <n>', 'results kept per task; older ones are pruned', String(defaults.keepRuns))
    .option('--output-cap <size>', 'bytes of stdout and of stderr kept per run: half from the start, half from the end', '1MiB')
    .option('--max-output-total <size>', 'output kept by all runs together; the oldest runs lose theirs first', '1GiB')
    .option('--heartbeat <duration>', 'between keep-alive comments on idle event streams', '15s')
    .option('--max-script-bytes <size>', 'largest script accepted', '256KiB')
    .option('--kill-grace <duration>', 'between TERM and KILL when a run is ended', '5s')
    .addOption(new Option('--durability <mode>', 'normal: survives a daemon crash; full: also a power cut (slower)').choices(['normal', 'full']).default('normal'))
    .option('--log-level <level>', 'pino log level on stderr: fatal, error, warn, info, debug', 'info')
    .action(async (options: DaemonOptions) => {
      const { host, port } = parseListen(options.listen);
      const keepRuns = wholeNumber(options.keepRuns, '--keep-runs');
      const maxRuns = wholeNumber(options.maxRuns, '--max-runs');
      // Loaded on demand, so client commands start without the server's modules.
      const { startDaemon } = await import('../../daemon.js');
      const daemon = await startDaemon(
        {
          dataDir: resolve(options.dataDir),
          host,
          port,
          token: loadToken(options.tokenFile),
          keepRuns,
          outputCap: parseByteSize(options.outputCap, '--output-cap'),
          maxOutputBytes: parseByteSize(options.maxOutputTotal, '--max-output-total'),
          heartbeatMs: positive(parseDuration(options.heartbeat, '--heartbeat'), '--heartbeat'),
          maxScriptBytes: parseByteSize(options.maxScriptBytes, '--max-script-bytes'),
          killGraceMs: parseDuration(options.killGrace, '--kill-grace'),
          durability: options.durability,
          logLevel: options.logLevel,
          ...loadConfigFile(options.config),
          maxRuns,
          sandboxMode: options.sandbox,
        },
        io.out,
      );
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          io.out(`${signal}: shutting down (runs in progress are ended and recorded as interrupted)`);
          void daemon.close().then(resolve);
        };
        process.once('SIGINT', () => shutdown('SIGINT'));
        process.once('SIGTERM', () => shutdown('SIGTERM'));
      });
    });
}

function wholeNumber(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new SchedulerError('invalid_request', `${flag}: "${text}" is not a whole number of at least 1`);
  return n;
}

function positive(ms: number, flag: string): number {
  if (ms <= 0) throw new SchedulerError('invalid_request', `${flag}: must be longer than 0`);
  return ms;
}
