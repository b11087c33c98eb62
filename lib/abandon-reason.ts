/** Why a gated launch was abandoned (value of the `Reason` dimension). */
export enum AbandonReason {
  /** The instance never showed up as an online SSM managed node (agent, network, role). */
  AGENT_NOT_ONLINE = 'AgentNotOnline',
  /** The installer failed or did not finish within `commandTimeout` (the log group tells which). */
  INSTALLER_FAILED = 'InstallerFailed',
  /** The Automation (or one of its steps) was cancelled. */
  CANCELLED = 'Cancelled',
  /** `CompleteLifecycleAction CONTINUE` itself failed (e.g. the hook had already expired). */
  LIFECYCLE_ACTION_FAILED = 'LifecycleActionFailed',
}
