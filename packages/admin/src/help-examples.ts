// An example for every command's --help, kept in one table so that a test can check that no
// command lacks one. Commands without --endpoint talk to $CONCLAVE_ENDPOINTS, else 127.0.0.1:7001.
import type { Command } from 'commander';

export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  'node start': [
    'conclave node start --id n1 --data ./data/n1 --listen 127.0.0.1:7001 --peers n1=127.0.0.1:7001,n2=127.0.0.1:7002,n3=127.0.0.1:7003',
    'conclave node start --id n4 --data ./data/n4 --listen 127.0.0.1:7004 --join 127.0.0.1:7001 --log-format json',
  ],
  'node accept-rollback': ['conclave node accept-rollback --node n2 --yes'],
  'cluster up': ['conclave cluster up', 'conclave cluster up --nodes 5 --base-port 7101 --data /tmp/conclave-dev'],
  dashboard: ['conclave dashboard', 'CONCLAVE_ENDPOINTS=127.0.0.1:7001,127.0.0.1:7002 conclave dashboard --port 7000'],
  put: ['conclave put greeting hello', 'conclave put user:1 \'{"name":"Ada"}\' --json-value --endpoint 127.0.0.1:7002'],
  get: ['conclave get greeting', 'conclave get greeting --consistency none --endpoint 127.0.0.1:7003'],
  del: ['conclave del greeting'],
  scan: ['conclave scan flags/', 'conclave scan --gte a --lt b --keys-only --limit 50', 'conclave scan flags/ --json'],
  watch: ['conclave watch flags/', 'conclave watch --key config --from-revision 120 --json'],
  txn: ['conclave txn < transfer.json', 'conclave txn --file transfer.json --json'],
  'lease grant': ['conclave lease grant 10000', 'conclave lease grant 30000 --json'],
  'lease keep-alive': ['conclave lease keep-alive 42'],
  'lease revoke': ['conclave lease revoke 42'],
  'lease list': ['conclave lease list', 'conclave lease list --json --endpoint 127.0.0.1:7002'],
  lock: ['conclave lock jobs/reindex -- ./reindex.sh', 'conclave lock jobs/reindex --ttl-ms 30000 --wait-ms 120000 -- sh -c \'echo token $CONCLAVE_FENCING_TOKEN\''],
  elect: ['conclave elect scheduler "$(hostname)"', 'conclave elect scheduler   # prints each new leader'],
  'group show': ['conclave group show', 'conclave group show --json'],
  'group add-member': ['conclave group add-member n4 127.0.0.1:7004 --secondary'],
  'group remove-member': ['conclave group remove-member n3', 'conclave group remove-member n1 --transfer'],
  'group transfer-leader': ['conclave group transfer-leader n2', 'conclave group transfer-leader n2 n3 --force'],
  'override show': ['conclave override show'],
  'override set': ['conclave override set 2 --node n1 --until-majority   # only after reading the procedure (README, "When a majority is lost")'],
  'override clear': ['conclave override clear', 'conclave override clear --node n1'],
  'election status': ['conclave election status', 'CONCLAVE_ENDPOINTS=127.0.0.1:7001,127.0.0.1:7002 conclave election status --json'],
  'election debug': ['conclave election debug --node n2'],
  'election leave': ['conclave election leave --node n1'],
  'election ping': ['conclave election ping'],
};

function pathOf(c: Command): string {
  const names: string[] = [];
  for (let x: Command | null = c; x?.parent; x = x.parent) names.unshift(x.name());
  return names.join(' ');
}

/** The commands that run something (no subcommands of their own), with their paths. */
export function leafCommands(program: Command): { path: string; command: Command }[] {
  const out: { path: string; command: Command }[] = [];
  const walk = (c: Command): void => {
    if (c.commands.length === 0) out.push({ path: pathOf(c), command: c });
    for (const sub of c.commands) walk(sub);
  };
  for (const c of program.commands) walk(c);
  return out;
}

/** Adds "Examples:" to the --help of every command that has a row in EXAMPLES. */
export function addExamples(program: Command): void {
  for (const { path, command } of leafCommands(program)) {
    const lines = EXAMPLES[path];
    if (lines) command.addHelpText('after', `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`);
  }
}
