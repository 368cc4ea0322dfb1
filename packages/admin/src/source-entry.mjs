// The `conclave` bin's entry in a checkout of the repository (never published: src/ is not
// shipped): the TypeScript source through tsx, with the `conclave-source` export condition so
// that every conclave package resolves to its src/ too. No build step, never a stale dist/.
import { register } from 'node:module';
import { register as registerTsx } from 'tsx/esm/api';

registerTsx();
// Registered after tsx, so it runs first.
const addSourceCondition =
  "export function resolve(specifier, context, next) { return next(specifier, { ...context, conditions: [...context.conditions, 'conclave-source'] }); }";
register(`data:text/javascript,${encodeURIComponent(addSourceCondition)}`);
await import('./cli.ts');
