/**
 * The CLI reference, from the program itself: every command's `--help`, as a user sees it,
 * at a fixed width so that the output does not depend on the terminal that runs the generator.
 */
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/context.js';

const helpWidth = 80;

/** Markdown with one section per command (the program first), each holding its help. */
export function cliReferenceMarkdown(): string {
  const silent: CliIo = { out: () => {}, err: () => {}, write: () => {}, writeErr: () => {}, stderrIsTerminal: false, columns: helpWidth };
  const program = buildProgram(silent);
  return commandsOf(program)
    .map(({ path, command }) => `### ${path.join(' ')}\n\n\`\`\`text\n${helpOf(command)}\n\`\`\`\n`)
    .join('\n');
}

/** The command and its subcommands, depth first, each with its words from the program down. */
function commandsOf(command: Command, parents: string[] = []): { path: string[]; command: Command }[] {
  const path = [...parents, command.name()];
  return [{ path, command }, ...command.commands.flatMap((child) => commandsOf(child, path))];
}

/** What `--help` prints for `command`, text added after the help included. */
function helpOf(command: Command): string {
  let text = '';
  const previous = command.configureOutput();
  command.configureOutput({ writeOut: (chunk) => (text += chunk), getOutHelpWidth: () => helpWidth, getOutHasColors: () => false });
  try {
    command.outputHelp();
  } finally {
    command.configureOutput(previous);
  }
  return text.trimEnd();
}
