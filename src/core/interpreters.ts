/**
 * The languages a script may be written in, and the command that runs each. `bash` is the
 * default, as the spec's scripts assume: the run's own shell evaluates it. Any other is run
 * as `COMMAND... SCRIPT_FILE`, the script written to a file first, so it reaches its
 * interpreter byte for byte, with no shell quoting in the way. The daemon's config file
 * adds languages (or changes their commands).
 */

/** Each language's command, null for the shell's own evaluation (bash). */
export type Interpreters = Readonly<Record<string, readonly string[] | null>>;

export const builtInInterpreters: Interpreters = Object.freeze({
  bash: null,
  sh: ['sh'],
  node: ['node'],
  python: ['python3'],
});

export const defaultLanguage = 'bash';

/** Language names: letters, digits, dot, dash, underscore. */
export const languagePattern = '^[A-Za-z0-9._-]{1,32}$';
