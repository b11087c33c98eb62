import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { AbandonReason } from './abandon-reason';

/** Options of the launch metrics of `AemCryptoKeys` (`metricContinuedLaunches`, `metricAbandonedLaunches`). */
export interface KeySetMetricOptions extends cloudwatch.MetricOptions {
  /**
   * Only this gated group's launches (launch metrics only).
   * @default - every group of the key set
   */
  readonly autoScalingGroup?: autoscaling.IAutoScalingGroup;
}

/** Options of `AemCryptoKeys.metricAbandonedLaunches`. */
export interface AbandonedLaunchesMetricOptions extends KeySetMetricOptions {
  /**
   * Only launches abandoned for this reason (not together with `autoScalingGroup`: the
   * Automation publishes the two as separate series).
   * @default - every reason
   */
  readonly reason?: AbandonReason;
}
