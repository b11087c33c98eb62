import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NagPack } from 'cdk-nag';
import { IConstruct } from 'constructs';

/**
 * cdk-nag's AwsSolutionsChecks over a synthesized app, run directly (`validateScope`): as a
 * validation plugin (`Validations.of(app).addPlugins`) cdk-nag 3 needs the construct tree on the
 * validation context, which aws-cdk-lib 2.257 (the lowest supported version) does not provide, so
 * the plugin only reports that it could not run. Returns each finding as `rule at path`.
 * With `ignoreAcknowledgements`, cdk-nag reports what the acknowledgements hide.
 */
export function nagFindings(app: IConstruct, ignoreAcknowledgements = false): string[] {
  const spy = ignoreAcknowledgements ? jest.spyOn(NagPack.prototype as any, 'isAcknowledged').mockReturnValue(false) : undefined;
  try {
    const report = new AwsSolutionsChecks().validateScope(app);
    return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}`));
  } finally {
    spy?.mockRestore();
  }
}

/** The rule ids (or, with `reasons`, the reasons) every construct of the app acknowledges for cdk-nag. */
export function acknowledgements(app: IConstruct, reasons = false): string[] {
  return app.node.findAll().flatMap((c) => c.node.metadata)
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => (reasons ? Object.values<string>(m.data) : Object.keys(m.data)));
}
