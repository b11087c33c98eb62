import { DescribeAssociationCommand, ListAssociationsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { INSTALLER_PARAMETER_RULES, RuledInstallerParameter, ruleError } from '../private/installer-checks';
import { UsageError } from './args';
import { OperationError } from './import-keys';

/** Set by the command itself, never taken from an association or --param. */
const SET_BY_COMMAND = ['SecretId', 'Mode'];

/** The --param names an installer run takes: the rule table's, so the CLI checks them as synth does. */
export const INSTALLER_PARAM_NAMES = Object.keys(INSTALLER_PARAMETER_RULES).filter((n) => !SET_BY_COMMAND.includes(n));

/** Checks --param names and values with the rule table `cdk synth` uses (installer-checks.ts). */
export function checkInstallerParams(params: Record<string, string[]>, command: string): void {
  for (const [name, [value]] of Object.entries(params)) {
    if (!INSTALLER_PARAM_NAMES.includes(name)) {
      throw new UsageError(`${command}: --param ${name} is not an installer parameter (${INSTALLER_PARAM_NAMES.join(', ')})`);
    }
    const error = ruleError(name as RuledInstallerParameter, value);
    if (error) throw new UsageError(`${command}: --param ${name}: ${error.replace(/^[^:]*: /, '')}`);
  }
}

/**
 * What the constructs send to the targeted instances. With --param QuickstartDir the operator
 * states the options (the others take the document's defaults); otherwise the parameters of this
 * key set's tag association on exactly these targets (addInstancesByTag), with --param on top.
 * Without either, the instances' options (where AEM lives, its user and service) are not known
 * here, and it refuses to guess.
 */
export async function installerParamsFor(ssm: SSMClient, documentName: string, target: { Key: string; Values: string[] },
  given: Record<string, string[]>, command: string): Promise<Record<string, string[]>> {
  checkInstallerParams(given, command);
  if (given.QuickstartDir) return given;
  const associationId = await findAssociation(ssm, documentName, target);
  if (associationId === undefined) {
    const tag = `${target.Key}=${target.Values[0]}`;
    throw new OperationError(`${command}: no association of ${documentName} targets ${tag}, so the instances' installer options are not known here `
      + '(e.g. a gated group\'s, from addAutoScalingGroup); pass them with --param: QuickstartDir (required), and AemUser, ServiceName, Restart, '
      + 'OnKeyMismatch, ... where they differ from the defaults');
  }
  const described = await ssm.send(new DescribeAssociationCommand({ AssociationId: associationId }));
  const fromAssociation = Object.fromEntries(Object.entries(described?.AssociationDescription?.Parameters ?? {})
    .filter(([name]) => !SET_BY_COMMAND.includes(name)));
  return { ...fromAssociation, ...given };
}

async function findAssociation(ssm: SSMClient, documentName: string, target: { Key: string; Values: string[] }): Promise<string | undefined> {
  const found: string[] = [];
  let token: string | undefined;
  do {
    const page = await ssm.send(new ListAssociationsCommand({ AssociationFilterList: [{ key: 'Name', value: documentName }], NextToken: token }));
    for (const a of page?.Associations ?? []) {
      const targets = a.Targets ?? [];
      if (targets.length === 1 && targets[0].Key === target.Key && JSON.stringify(targets[0].Values) === JSON.stringify(target.Values)) {
        found.push(a.AssociationId!);
      }
    }
    token = page?.NextToken;
  } while (token);
  if (found.length > 1) {
    throw new OperationError(`${documentName} has ${found.length} associations on ${target.Key}=${target.Values[0]} (${found.join(', ')}); `
      + 'the installer options are ambiguous');
  }
  return found[0];
}
