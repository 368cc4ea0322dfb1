// The `conclave` command tree, without parsing: cli.ts runs it, tests inspect it.
import { Command } from 'commander';
import { registerClusterCommands } from './commands-cluster.js';
import { registerDashboardCommand } from './commands-dashboard.js';
import { registerElectionCommands } from './commands-election.js';
import { registerGroupCommands } from './commands-group.js';
import { registerKvCommands } from './commands-kv.js';
import { registerWatchCommands } from './commands-watch.js';
import { registerLeaseCommands } from './commands-lease.js';
import { registerNodeCommands } from './commands-node.js';
import { registerOverrideCommands } from './commands-override.js';
import { withCommonOptions } from './common.js';
import { addExamples } from './help-examples.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('conclave')
    .description('conclave: an embeddable, Raft-replicated key-value store')
    .exitOverride()
    .showHelpAfterError(false);
  registerNodeCommands(program);
  registerClusterCommands(program);
  registerKvCommands(program, withCommonOptions);
  registerWatchCommands(program, withCommonOptions);
  registerLeaseCommands(program, withCommonOptions);
  registerGroupCommands(program, withCommonOptions);
  registerOverrideCommands(program, withCommonOptions);
  registerElectionCommands(program, withCommonOptions);
  registerDashboardCommand(program);
  addExamples(program);
  return program;
}
