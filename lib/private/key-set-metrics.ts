import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { AbandonedLaunchesMetricOptions, KeySetMetricOptions } from '../key-set-metric-options';
import { METRICS } from './launch-results';

/**
 * The metrics of a key set, in its own namespace: what the lifecycle Automation publishes for each
 * launch, and what the log group's metric filters count. Sums over 5 minutes by default; the
 * key-set total is the series without dimensions.
 */
export class KeySetMetrics {
  constructor(private readonly namespace: string) {}

  /** Launches the gate abandoned (optionally of one group, or for one reason). */
  public abandonedLaunches(options: AbandonedLaunchesMetricOptions = {}): cloudwatch.Metric {
    const { reason, ...rest } = options;
    if (reason !== undefined && options.autoScalingGroup !== undefined) {
      throw new Error('metricAbandonedLaunches: pass autoScalingGroup or reason, not both (the Automation publishes them as separate series)');
    }
    return this.metric(METRICS.abandoned, rest, reason !== undefined ? { Reason: reason } : {});
  }

  /** Launches the gate completed with CONTINUE. */
  public continuedLaunches(options: KeySetMetricOptions = {}): cloudwatch.Metric {
    return this.metric(METRICS.continued, options);
  }

  /** Failed (or timed-out) tag association runs. */
  public failedAssociationRuns(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(METRICS.associationFailures, options);
  }

  /** Tag association runs that changed something on an instance. */
  public associationChanges(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(METRICS.associationChanges, options);
  }

  /** Installer runs in the log group that changed something. */
  public installerChanges(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(METRICS.installerChanged, options);
  }

  /** Installer runs in the log group that ended with an error line. */
  public installerErrors(options: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return this.metric(METRICS.installerErrors, options);
  }

  private metric(metricName: string, options: KeySetMetricOptions, dimensions: Record<string, string> = {}): cloudwatch.Metric {
    const { autoScalingGroup, ...rest } = options;
    const dimensionsMap = {
      ...dimensions,
      ...(autoScalingGroup ? { AutoScalingGroupName: autoScalingGroup.autoScalingGroupName } : {}),
      ...rest.dimensionsMap,
    };
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      statistic: cloudwatch.Stats.SUM,
      ...rest,
      dimensionsMap: Object.keys(dimensionsMap).length ? dimensionsMap : undefined,
    });
  }
}
