/**
 * scheduler token create|list|revoke: tokens with roles, made through the daemon (admins
 * only). A made token is printed once; the daemon keeps its SHA-256 alone.
 */
import { Command, Option } from 'commander';
import { roles, type Role } from '../../protocol/vocabulary.js';
import { booleanOption } from '../boolean-flag.js';
import { clientFor, printJson, type CliIo } from '../context.js';
import { localTime, TableLayout } from '../render.js';

export function tokenCommand(io: CliIo): Command {
  // The program's options (--server, --token-file) are read from the program, two levels up.
  const client = (subcommand: Command) => clientFor(subcommand.parent!);
  const token = new Command('token').description("make, list and revoke tokens with roles (admin, operator, viewer, metrics); needs an admin's token");
  token
    .command('create')
    .description('make a token with a role: printed this once, the daemon keeps only its SHA-256')
    .requiredOption('--name <name>', 'what the token is called in lists and logs: 1 to 64 letters, digits, ".", "_" or "-"')
    .addOption(new Option('--role <role>', 'what it may do').choices(roles).makeOptionMandatory())
    .addOption(booleanOption('--json', 'print the answer as JSON'))
    .action(async (options: { name: string; role: Role; json?: boolean }, command: Command) => {
      const made = await client(command).createToken(options.name, options.role);
      if (options.json) return printJson(io, made);
      io.out(made.token);
      io.err(`token "${made.name}" (${made.role}) made: it is shown this once; keep it where its user reads it (SCHEDULER_TOKEN or --token-file)`);
    });
  token
    .command('list')
    .description('list the tokens the daemon knows, with their roles and where they come from (never their values)')
    .addOption(booleanOption('--json', 'print the tokens as a JSON array'))
    .action(async (options: { json?: boolean }, command: Command) => {
      const { tokens } = await client(command).tokens();
      if (options.json) return printJson(io, tokens);
      const layout = new TableLayout(['NAME', 'ROLE', 'SOURCE', 'CREATED'], io.columns);
      io.out(layout.lines(tokens.map((entry) => [entry.name, entry.role, entry.source, entry.createdAt === null ? '-' : localTime(entry.createdAt)])).join('\n'));
    });
  token
    .command('revoke')
    .description('revoke a made token: requests with it are refused from then on')
    .argument('<name>', 'the name of the token')
    .action(async (name: string, _options: object, command: Command) => {
      await client(command).revokeToken(name);
      io.out(`token "${name}" revoked`);
    });
  return token;
}
