// @conclave/admin: the admin client for scripts, and the pieces of the `conclave` CLI.
export {
  AdminClient,
  NoEndpointError,
  type AdminClientOptions,
  type ActionReport,
  type AddMemberResult,
  type RemoveMemberResult,
  type TransferLeaderResult,
} from './client.js';
export { EXIT, exitCodeFor } from './exit-codes.js';
export { parsePeers } from './parse.js';
export type { Survey, MemberProbe, RemoteFailure } from './member-survey.js';
export { STATUS } from './openio-status.js';
export type { ElectionReport, ElectionRow, ElectionDebugReport, ElectionDebugRow, DebugBody, Verdict, LeaderClaim } from './election-report.js';
export type { GroupReport, GroupMemberRow } from './group-report.js';
export { MajorityAnswersError, MembersMaybeAliveError, type OverrideRow, type OverrideProbe, type OverrideChangeRow, type OverrideSetReport, type OverrideClearReport } from './override-report.js';
export type { LeaveRow, PingRow } from './election-actions.js';
export { AdminWatch, type AdminWatchOptions } from './watch-client.js';
