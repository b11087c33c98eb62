import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import { Construct } from 'constructs';
import { InstallerOptions } from './installer-options';

/** Options of `AemCryptoKeys.addAutoScalingGroup` (issue 4 owns this file). */
export interface AutoScalingGroupOptions extends InstallerOptions {}

/** Properties of a `LifecycleGate`. */
export interface LifecycleGateProps {
  /** Name of the installer document. */
  readonly installerDocumentName: string;
  /** ARN of the key set's secret. */
  readonly secretArn: string;
}

/** Hook + rule + Automation that keep new instances out of service until they hold the keys. */
export class LifecycleGate extends Construct {
  constructor(scope: Construct, id: string, _props: LifecycleGateProps) {
    super(scope, id);
  }

  /** Gates one more group. */
  public addGroup(_asg: autoscaling.AutoScalingGroup, _options: AutoScalingGroupOptions = {}): void {
    throw new Error('addAutoScalingGroup: not built yet (issue 4)');
  }
}
