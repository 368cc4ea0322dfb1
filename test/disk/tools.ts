// Debian tools that disk tests need (.ci/run installs them). Missing in CI (CI=true) is a
// failure; elsewhere the test is skipped with a message saying what to install.
import { spawnSync } from 'node:child_process';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/** 'run', or the reason to skip; throws in CI when a tool is missing. */
export function requireTools(names: readonly string[], packageHint: string): 'run' | string {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return 'run';
  const why = `${missing.join(', ')} not installed (apt-get install -y ${packageHint}; .ci/run installs it)`;
  if (process.env.CI === 'true') throw new Error(`CI: ${why}`);
  return why;
}
