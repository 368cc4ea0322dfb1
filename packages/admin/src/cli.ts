// The `conclave` CLI. Exit codes: 0 ok, 1 refused or failed, 2 usage error, 3 unreachable.
import { CommanderError } from 'commander';
import { EXIT, exitCodeFor } from './exit-codes.js';
import { buildProgram } from './program.js';

// A reader that went away (`conclave election debug | head -1`) ends the command quietly:
// what was printed is all that was wanted, and a stack trace helps no one.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
    throw err;
  });
}

const json = process.argv.includes('--json');
const program = buildProgram();

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
