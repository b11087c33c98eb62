import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';

/**
 * An account-wide SSM Automation usage metric (AWS/Usage; Systems Manager user guide, "Monitoring
 * Automation"), as a CloudWatch Metrics Insights query: the user guide names the metrics but not
 * their dimensions, and the query needs none (CloudWatch alarms accept a Metrics Insights query
 * that returns one time series: CloudWatch user guide, "Create alarms on Metrics Insights queries").
 */
export function accountUsage(metricName: string, statistic: 'MIN' | 'MAX', period: Duration): cloudwatch.IMetric {
  return new cloudwatch.MathExpression({
    expression: `SELECT ${statistic}(${metricName}) FROM "AWS/Usage"`,
    usingMetrics: {},
    label: metricName,
    period,
  });
}
