#!/usr/bin/env node
// The `conclave` command. Installed from npm it runs the compiled CLI in dist/: no TypeScript
// tooling at run time. In a checkout of the repository, where src/ sits beside it (the
// published package never ships src/), it runs the TypeScript source through tsx with the
// `conclave-source` export condition, so the CLI needs no build step and never runs a stale dist/.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const source = new URL('../src/cli.ts', import.meta.url);
if (existsSync(source)) {
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  // Registered after tsx, so it runs first: every conclave package then resolves to its src/.
  const addSourceCondition =
    "export function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...context.conditions, 'conclave-source'] }); }";
  register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`);
  await import(source.href);
} else {
  await import('../dist/cli.js');
}
