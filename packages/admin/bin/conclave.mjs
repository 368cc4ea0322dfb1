#!/usr/bin/env node
// The `conclave` command. Installed from npm it runs the compiled CLI in dist/: no TypeScript
// tooling at run time. In a checkout of the repository, where src/ sits beside it (the
// published package never ships src/), it runs the TypeScript source (src/source-entry.mjs).
import { existsSync } from 'node:fs';

const sourceEntry = new URL('../src/source-entry.mjs', import.meta.url);
await import(existsSync(sourceEntry) ? sourceEntry.href : '../dist/cli.js');
