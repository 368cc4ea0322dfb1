// @conclave/admin: the admin client for scripts, and the pieces of the `conclave` CLI.
export { AdminClient, NoEndpointError, type AdminClientOptions } from './client.js';
export { EXIT, exitCodeFor } from './exit-codes.js';
export { parsePeers } from './parse.js';
