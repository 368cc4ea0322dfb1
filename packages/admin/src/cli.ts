// The `conclave` CLI. Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 unreachable.
import { Command, CommanderError } from 'commander';
import { registerClusterCommands } from './commands-cluster.js';
import { registerElectionCommands } from './commands-election.js';
import { registerGroupCommands } from './commands-group.js';
import { registerKvCommands } from './commands-kv.js';
import { registerNodeCommands } from './commands-node.js';
import { registerOverrideCommands } from './commands-override.js';
import { withCommonOptions } from './common.js';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { registerDashboardCommand } from './commands-dashboard.js';
import { addExamples } from './help-examples.js';

// A reader that went away (`conclave election debug | head -1`) ends the command quietly:
// what was printed is all that was wanted, and a stack trace helps no one.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

const json = process.argv.includes('--json');
const program = new Command();
program
  .name('conclave')
  .description('conclave: an embeddable, Raft-replicated key-value store')
  .exitOverride()
  .showHelpAfterError(false);
registerNodeCommands(program);
registerClusterCommands(program);
registerKvCommands(program, withCommonOptions);
registerGroupCommands(program, withCommonOptions);
registerOverrideCommands(program, withCommonOptions);
registerElectionCommands(program, withCommonOptions);
registerDashboardCommand(program);
addExamples(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every other commander error is a usage error (commander
    // printed it on stderr; --json callers get it as the one JSON line too).
    if (err.exitCode !== 0 && json) console.log(JSON.stringify({ ok: false, error: { code: 'USAGE', message: err.message.replace(/^error: /, '') } }));
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const code = exitCodeFor(err);
  const e = err as { code?: string; message?: string };
  if (json) console.log(JSON.stringify({ ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(err) } }));
  console.error(`conclave: ${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ''}`);
  process.exit(code);
}
