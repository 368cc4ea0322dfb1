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

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    // Help and version exit 0; every other commander error is a usage error.
    process.exit(err.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  const code = exitCodeFor(err);
  const e = err as { code?: string; message?: string };
  const json = process.argv.includes('--json');
  if (json) console.log(JSON.stringify({ ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(err) } }));
  console.error(`conclave: ${e.message ?? String(err)}${e.code ? ` [${e.code}]` : ''}`);
  process.exit(code);
}
