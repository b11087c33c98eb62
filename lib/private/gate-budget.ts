/**
 * The lifecycle gate's time budget, checked at synthesis.
 *
 * AWS figures it depends on (documented):
 * - A lifecycle hook's `HeartbeatTimeout` is 30 to 7,200 s; `RecordLifecycleActionHeartbeat`
 *   "extends the timeout by the length of time defined using the PutLifecycleHook API call"; an
 *   instance stays in a wait state at most 48 hours or 100 heartbeats, whichever is smaller
 *   (EC2 Auto Scaling API reference: PutLifecycleHook, RecordLifecycleActionHeartbeat,
 *   LifecycleHook.GlobalTimeout).
 * - An Automation step's `maxAttempts` defaults to 1 (SSM API reference, StepExecution.MaxAttempts);
 *   `timeoutSeconds` bounds one attempt. The account's throttling retry
 *   (`/ssm/automation/throttling-retry-time-limit`, 0 to 3,600 s) retries throttled steps before
 *   `maxAttempts` applies (Systems Manager user guide, "Configuring automatic retry for throttled
 *   operations").
 * - 100 Automations run at once per account and Region (up to 500 with adaptive concurrency);
 *   further executions wait in a queue with status Pending (Systems Manager user guide, "Allowing
 *   Automation to adapt to your concurrency needs"; "Monitoring Automation": AWS/Usage
 *   `ConcurrentAutomationUsage`, `QueuedAutomationUsage`).
 * - EventBridge retries a target until `MaximumRetryAttempts` (0 to 185) or `MaximumEventAgeInSeconds`
 *   (60 to 86,400; 24 hours and 185 attempts when no retry policy is set) is reached (EventBridge API
 *   reference, RetryPolicy).
 *
 * Pages: docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html,
 * .../API_LifecycleHook.html; docs.aws.amazon.com/systems-manager/latest/userguide/adaptive-concurrency.html,
 * .../automation-throttling-retry.html, .../monitoring-automation-metrics.html;
 * docs.aws.amazon.com/eventbridge/latest/APIReference/API_RetryPolicy.html.
 *
 * The hook's clock runs from the launch until the Automation's first heartbeat (EventBridge
 * delivery and its retries, then the Automation queue), and then from one heartbeat to the next.
 * Each of those segments must fit in `heartbeatTimeout`.
 */

/** Attempts of every AWS API step of the lifecycle Automation (`aws:executeAwsApi`, `aws:waitForAwsResourceProperty`). */
export const API_STEP_MAX_ATTEMPTS = 3;
/** Timeout of one attempt of an `aws:executeAwsApi` step. */
export const API_STEP_TIMEOUT_SECONDS = 60;
/** Worst case of one `aws:executeAwsApi` step: every attempt runs into its timeout. */
export const API_STEP_WORST_SECONDS = API_STEP_MAX_ATTEMPTS * API_STEP_TIMEOUT_SECONDS;

/**
 * The least time a launch's Automation may wait in the account's Automation queue before its
 * first heartbeat: one wave of Automations (the default concurrency) has to finish before a
 * queued one starts.
 */
export const MIN_QUEUE_ALLOWANCE_SECONDS = 600;

/**
 * The installer document's execution timeout (`timeoutSeconds` of its `aws:runShellScript`
 * step). A `commandTimeout` above it could not be honoured: the agent stops the script first.
 */
export const INSTALLER_TIMEOUT_SECONDS = 3600;

/** The worst cases of the lifecycle Automation between two points where the hook's clock restarts. */
export interface GateBudget {
  /** Launch to first heartbeat, without the queue: EventBridge retries and the heartbeat step. */
  readonly arrival: number;
  /** First heartbeat to the heartbeat before the installer (or to ABANDON when the agent never comes online). */
  readonly agentOnline: number;
  /** Heartbeat before the installer to the completed lifecycle action (CONTINUE, or the count and ABANDON after it fails). */
  readonly install: number;
}

/**
 * The budget of the shared Automation. `maxEventAge` is the rule targets' `MaximumEventAgeInSeconds`
 * (`undefined`: no retry policy, EventBridge's default of 24 hours, which no heartbeat covers).
 */
export function gateBudget(ssmOnline: number, command: number, maxEventAge: number | undefined): GateBudget {
  const api = API_STEP_WORST_SECONDS;
  return {
    arrival: (maxEventAge ?? 86_400) + api,
    // wait (its attempts share ssmOnline), then the next heartbeat, or the count and ABANDON.
    agentOnline: api + ssmOnline + 2 * api,
    // the installer, then CONTINUE; if that fails, its count and ABANDON.
    install: api + command + 3 * api,
  };
}

/** What is wrong with a group's `heartbeatTimeout` against the budget (empty: nothing). */
export function budgetProblems(heartbeat: number, budget: GateBudget): string[] {
  const problems: string[] = [];
  const longest = Math.max(budget.agentOnline, budget.install);
  if (heartbeat < longest) {
    problems.push(`heartbeatTimeout (${heartbeat} s) must cover the Automation between two heartbeats: `
      + `${budget.agentOnline} s until the agent is online, ${budget.install} s for the installer and the lifecycle action `
      + `(each API step ${API_STEP_MAX_ATTEMPTS} x ${API_STEP_TIMEOUT_SECONDS} s)`);
  }
  if (heartbeat < budget.arrival + MIN_QUEUE_ALLOWANCE_SECONDS) {
    problems.push(`heartbeatTimeout (${heartbeat} s) must cover the lifecycle event's delivery (EventBridge retries and the first `
      + `heartbeat, ${budget.arrival} s) plus at least ${MIN_QUEUE_ALLOWANCE_SECONDS} s in the account's Automation queue`);
  }
  return problems;
}
