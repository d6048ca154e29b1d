/**
 * Where and how a task's runs execute: the variables they get on top of the documented base
 * environment, their working directory, the user they run as, the queue whose slots they
 * take, the sandbox, and the resource limits each run is held to. Fixed at submission.
 */

/** The limits a run can hit, by the name recorded on a run that hit one. */
export const resourceLimitNames = ['cpu', 'memory', 'processes', 'open_files', 'output', 'wall_time'] as const;
export type ResourceLimitName = (typeof resourceLimitNames)[number];

/**
 * Bounds on one run. CPU seconds and open files are kernel limits (rlimits) of each process
 * of the run; memory (resident, summed over the run's processes) and the number of processes
 * are watched; output counts the bytes the run writes to stdout and stderr together. Wall
 * time is the task's `--timeout`. An absent bound is the daemon's default, if it has one.
 */
export interface ResourceLimits {
  cpuSeconds?: number;
  memoryBytes?: number;
  processes?: number;
  openFiles?: number;
  outputBytes?: number;
}

/** The keys of ResourceLimits, in the order they are shown. */
export const resourceLimitKeys = ['cpuSeconds', 'memoryBytes', 'processes', 'openFiles', 'outputBytes'] as const satisfies ReadonlyArray<keyof ResourceLimits>;

/** Which limit each key of ResourceLimits sets. */
export const limitNameOf: Readonly<Record<keyof ResourceLimits, ResourceLimitName>> = {
  cpuSeconds: 'cpu',
  memoryBytes: 'memory',
  processes: 'processes',
  openFiles: 'open_files',
  outputBytes: 'output',
};

/** The task's limits, each falling back to the daemon's default. */
export function effectiveLimits(task: ResourceLimits, defaults: ResourceLimits): ResourceLimits {
  const limits: ResourceLimits = {};
  for (const key of resourceLimitKeys) {
    const value = task[key] ?? defaults[key];
    if (value !== undefined) limits[key] = value;
  }
  return limits;
}

/** Where and how the runs of a task execute. */
export interface ExecutionSettings {
  /** Variables set on top of the base environment (they win over it). */
  env: Readonly<Record<string, string>>;
  /** The working directory; null: the home directory of the user the script runs as (the scratch directory in the sandbox). */
  cwd: string | null;
  /** The user the script runs as (a daemon running as root only); null: the daemon's user. */
  user: string | null;
  /** The queue whose slots its runs take. */
  queue: string;
  /** Runs in the bubblewrap sandbox. */
  sandbox: boolean;
  /** In the sandbox, keeps the network (outside it, the network is always there). */
  network: boolean;
  limits: ResourceLimits;
}

/** Every run takes a slot of this queue, bounded by the daemon's global maximum. */
export const defaultQueue = 'default';

/** What a task submitted without any of these settings gets. */
export const defaultExecution: ExecutionSettings = Object.freeze({
  env: Object.freeze({}),
  cwd: null,
  user: null,
  queue: defaultQueue,
  sandbox: false,
  network: false,
  limits: Object.freeze({}),
});

/** Environment variable names: a letter or underscore, then letters, digits, underscores. */
export const envNamePattern = '^[A-Za-z_][A-Za-z0-9_]{0,127}$';

/** Names the daemon sets itself for every run (it finds a run's processes by them): a task cannot set them. */
export const reservedEnvPrefix = 'SCHEDULER_';

/** Queue names: like language names. */
export const queuePattern = '^[A-Za-z0-9._-]{1,32}$';
