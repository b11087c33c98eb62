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
  /**
   * Recording the lifecycle action's heartbeat failed: nearly always because the launch had
   * already ended, its heartbeat having run out while EventBridge retried the event or the
   * Automation waited in the account's queue (or the instance was terminated). Auto Scaling has
   * abandoned it by the default result; the Automation ends at once.
   */
  HEARTBEAT_EXPIRED = 'HeartbeatExpired',
}
