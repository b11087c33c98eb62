import { policyDocument, ResolvedStack, secretSuffix, uuidFor } from './cfn-resolve';

/**
 * One deployed key set seen from its resolved template(s): the concrete ARNs, tags and policies
 * that the runtime requests of test/support/runtime-requests.ts name. Built from what the
 * template says, never from what a test expects.
 */

export interface Policy { readonly name: string; readonly policy: any }

export interface RoleView {
  readonly name: string;
  readonly arn: string;
  readonly trust: any;
  readonly policies: Policy[];
}

export interface GroupView {
  readonly name: string;
  readonly arn: string;
  /** Tags on the group (autoscaling:ResourceTag). */
  readonly tags: Record<string, string>;
  /** Tags a launched instance carries (propagated ones and aws:autoscaling:groupName). */
  readonly instanceTags: Record<string, string>;
  readonly hookName: string;
  /** The instances' role (undefined: granted by the group's owner, not visible here). */
  readonly instanceRole?: RoleView;
}

export interface KeyView { readonly arn: string; readonly policy: any; readonly aliases: string[] }

export interface KeySetScene {
  readonly label: string;
  readonly account: string;
  readonly region: string;
  readonly secretArn: string;
  readonly secretPolicy?: any;
  /** The secret's customer-managed key (undefined: aws/secretsmanager). */
  readonly secretKey?: KeyView;
  /** Customer-managed keys of the primary's replicas, by region. */
  readonly replicaKeys: Record<string, KeyView>;
  readonly installerDocument: string;
  readonly exportDocument?: string;
  readonly migrationDocument?: string;
  readonly groups: GroupView[];
  /** Roles of instances reached by tag associations or granted by hand (author, export instance). */
  readonly otherInstanceRoles: RoleView[];
  readonly writerRoles: RoleView[];
  readonly logGroupName: string;
  readonly logsKey: KeyView;
  readonly logResourcePolicies: any[];
  readonly lifecycle?: { automation: string; role: RoleView; eventsRole: RoleView; rules: RuleView[]; namespace: string };
  readonly associationRules: RuleView[];
  readonly deadLetterQueue?: { arn: string; policy: any };
  readonly topic?: { arn: string; policy: any; key: KeyView };
  readonly alarms: { name: string; arn: string; actions: string[] }[];
  readonly loop?: { automation: string; role: RoleView; eventsRole: RoleView; rule: RuleView; alarmNames: string[] };
  readonly generator?: RoleView;
  /** Every SSM document of the key set: kind → content (calls are extracted from them). */
  readonly documents: { kind: string; name: string; content: any }[];
}

export interface RuleView { readonly name: string; readonly arn: string; readonly pattern: any; readonly targets: any[] }

type Resources = Record<string, any>;

const pathOf = (r: any): string => r.Metadata?.['aws:cdk:path'] ?? '';

function find(resources: Resources, type: string, pathPart: string): [string, any][] {
  return Object.entries(resources).filter(([, r]) => r.Type === type && pathOf(r).includes(pathPart));
}

function one(resources: Resources, type: string, pathPart: string): [string, any] | undefined {
  const all = find(resources, type, pathPart);
  if (all.length > 1) throw new Error(`more than one ${type} under ${pathPart}: ${all.map(([id]) => id).join(', ')}`);
  return all[0];
}

/** A role of the stack with its trust policy and every identity policy attached to it in the template. */
export function roleView(stack: ResolvedStack, roleName: string): RoleView {
  const resources = stack.resources;
  const entry = Object.entries(resources).find(([id, r]) => r.Type === 'AWS::IAM::Role' && stack.ref(id) === roleName);
  const policies: Policy[] = [];
  for (const [id, r] of Object.entries(resources)) {
    if ((r.Type === 'AWS::IAM::Policy' || r.Type === 'AWS::IAM::ManagedPolicy') && (r.Properties.Roles ?? []).includes(roleName)) {
      policies.push({ name: id, policy: r.Properties.PolicyDocument });
    }
  }
  for (const inline of entry?.[1].Properties.Policies ?? []) {
    policies.push({ name: `${roleName}/${inline.PolicyName}`, policy: inline.PolicyDocument });
  }
  return {
    name: roleName,
    arn: entry ? stack.att(entry[0], 'Arn') : `arn:aws:iam::${stack.env.account}:role/${roleName}`,
    trust: entry?.[1].Properties.AssumeRolePolicyDocument,
    policies,
  };
}

function roleOfArn(stack: ResolvedStack, arn: string): RoleView {
  return roleView(stack, arn.split('/').pop()!);
}

function keyView(stack: ResolvedStack, keyArn: string, aliasStacks: ResolvedStack[] = [stack]): KeyView {
  for (const s of aliasStacks) {
    const entry = Object.entries(s.resources).find(([id, r]) => r.Type === 'AWS::KMS::Key' && s.att(id, 'Arn') === keyArn);
    if (entry) {
      const aliases = Object.values(s.resources)
        .filter((r: any) => r.Type === 'AWS::KMS::Alias' && [s.ref(entry[0]), keyArn].includes(r.Properties.TargetKeyId))
        .map((r: any) => r.Properties.AliasName);
      return { arn: keyArn, policy: entry[1].Properties.KeyPolicy, aliases };
    }
  }
  throw new Error(`no KMS key ${keyArn} in the stacks given`);
}

/** A key named by its alias ARN (ReplicaKey.fromRegion): the key carrying that alias in one of the stacks. */
function keyByAlias(aliasArn: string, stacks: ResolvedStack[]): KeyView {
  const [, , , region, , rest] = aliasArn.split(':');
  for (const s of stacks.filter((x) => x.env.region === region)) {
    const alias = Object.values(s.resources).find((r: any) => r.Type === 'AWS::KMS::Alias' && r.Properties.AliasName === rest);
    if (alias) {
      const keyId = (alias as any).Properties.TargetKeyId;
      const keyArn = keyId.startsWith('arn:') ? keyId : `arn:aws:kms:${region}:${s.env.account}:key/${keyId}`;
      return keyView(s, keyArn, [s]);
    }
  }
  throw new Error(`no stack in ${region} holds ${aliasArn}`);
}

function resolveKey(arn: string, stack: ResolvedStack, others: ResolvedStack[]): KeyView | undefined {
  if (!arn) return undefined;
  return arn.includes(':alias/') ? keyByAlias(arn, [stack, ...others]) : keyView(stack, arn, [stack, ...others]);
}

function tagsOf(list: any[] | undefined, launchOnly = false): Record<string, string> {
  return Object.fromEntries((list ?? []).filter((t) => !launchOnly || t.PropagateAtLaunch).map((t) => [t.Key, t.Value]));
}

/** The role an Auto Scaling group's launch template gives its instances. */
function groupInstanceRole(stack: ResolvedStack, group: any): RoleView | undefined {
  const ltName = group.Properties.LaunchTemplate?.LaunchTemplateId;
  const lt = Object.entries(stack.resources).find(([id, r]) => r.Type === 'AWS::EC2::LaunchTemplate' && stack.ref(id) === ltName)?.[1];
  const profileName = lt?.Properties.LaunchTemplateData?.IamInstanceProfile?.Arn?.split('/').pop();
  const profile = Object.entries(stack.resources).find(([id, r]) => r.Type === 'AWS::IAM::InstanceProfile' && stack.ref(id) === profileName)?.[1];
  const roleName = profile?.Properties.Roles?.[0];
  return roleName ? roleView(stack, roleName) : undefined;
}

export interface SceneOptions {
  readonly label: string;
  /** Construct path of the key set, e.g. `AemEstate/CryptoKeys`. */
  readonly keySetPath: string;
  /** Other stacks of the same app (replica keys of other regions, the primary). */
  readonly otherStacks?: ResolvedStack[];
  /** Imported groups: their name, instance tags and role name, as their owner set them up. */
  readonly importedGroups?: { name: string; instanceTags: Record<string, string>; tags: Record<string, string>; roleName?: string }[];
  /** Roles granted read or write by hand (author, export instance), by construct path part. */
  readonly instanceRolePaths?: string[];
  readonly writerRolePaths?: string[];
  /** A replica region's secret: the primary's name (its ARN in this region ends with the primary's suffix). */
  readonly replicaSecretName?: string;
}

export function keySetScene(stack: ResolvedStack, options: SceneOptions): KeySetScene {
  const R = stack.resources;
  const base = options.keySetPath;
  const others = options.otherStacks ?? [];
  const { account, region } = stack.env;
  const secretEntry = one(R, 'AWS::SecretsManager::Secret', `${base}/`);
  const installer = one(R, 'AWS::SSM::Document', `${base}/InstallerDocument`)!;
  const secretArn = secretEntry
    ? stack.att(secretEntry[0], 'Id')
    : `arn:aws:secretsmanager:${region}:${account}:secret:${options.replicaSecretName}-${secretSuffix(options.replicaSecretName!)}`;
  const secretKeyArn = secretEntry ? secretEntry[1].Properties.KmsKeyId : replicaKeyArnOf(stack, base);
  const replicaKeys: Record<string, KeyView> = {};
  for (const replica of secretEntry?.[1].Properties.ReplicaRegions ?? []) {
    const key = resolveKey(replica.KmsKeyId ?? '', stack, others);
    if (key) replicaKeys[replica.Region] = key;
  }
  const documents = find(R, 'AWS::SSM::Document', `${base}`).concat(find(R, 'AWS::SSM::Document', 'Migrat'))
    .map(([id, r]) => ({ kind: documentKind(pathOf(r)), name: stack.ref(id), content: r.Properties.Content }));
  const logGroup = one(R, 'AWS::Logs::LogGroup', `${base}/Logs`)!;
  const rules = find(R, 'AWS::Events::Rule', '').map(([id, r]) => ruleView(stack, id, r));
  const lifecycleDoc = one(R, 'AWS::SSM::Document', `${base}/LifecycleGate/Automation`);
  const dlq = one(R, 'AWS::SQS::Queue', base);
  const loopDoc = find(R, 'AWS::SSM::Document', 'LaunchLoopProtection')[0];
  const topicEntry = find(R, 'AWS::SNS::Topic', '')[0];
  const generator = Object.entries(R).find(([, r]) => r.Type === 'AWS::IAM::Role' && pathOf(r).includes('Generator'));
  return {
    label: options.label,
    account,
    region,
    secretArn,
    secretPolicy: Object.values(R).find((r: any) => r.Type === 'AWS::SecretsManager::ResourcePolicy')?.Properties.ResourcePolicy,
    secretKey: resolveKey(secretKeyArn ?? '', stack, others),
    replicaKeys,
    installerDocument: stack.ref(installer[0]),
    exportDocument: documents.find((d) => d.kind === 'export')?.name,
    migrationDocument: documents.find((d) => d.kind === 'migration')?.name,
    groups: [...managedGroups(stack, base), ...importedGroups(stack, options)],
    otherInstanceRoles: rolesAt(stack, options.instanceRolePaths ?? []),
    writerRoles: rolesAt(stack, options.writerRolePaths ?? []),
    logGroupName: stack.ref(logGroup[0]),
    logsKey: keyView(stack, logGroup[1].Properties.KmsKeyId),
    logResourcePolicies: find(R, 'AWS::Logs::ResourcePolicy', '').map(([, r]) => policyDocument(r.Properties.PolicyDocument)),
    lifecycle: lifecycleDoc && {
      automation: stack.ref(lifecycleDoc[0]),
      role: roleOfArn(stack, lifecycleDoc[1].Properties.Content.assumeRole),
      eventsRole: roleOfArn(stack, rules.find((r) => r.targets[0]?.Arn.includes(`/${stack.ref(lifecycleDoc[0])}:`))!.targets[0].RoleArn),
      rules: rules.filter((r) => r.pattern.source?.includes('aws.autoscaling')),
      namespace: namespaceOf(lifecycleDoc[1].Properties.Content),
    },
    associationRules: rules.filter((r) => r.pattern.source?.includes('aws.ssm')),
    deadLetterQueue: dlq && {
      arn: stack.att(dlq[0], 'Arn'),
      policy: Object.values(R).find((r: any) => r.Type === 'AWS::SQS::QueuePolicy')?.Properties.PolicyDocument,
    },
    topic: topicEntry && {
      arn: stack.ref(topicEntry[0]),
      policy: Object.values(R).find((r: any) => r.Type === 'AWS::SNS::TopicPolicy')?.Properties.PolicyDocument,
      key: keyView(stack, topicEntry[1].Properties.KmsMasterKeyId),
    },
    alarms: find(R, 'AWS::CloudWatch::Alarm', '').map(([id, r]) => ({
      name: stack.ref(id), arn: stack.att(id, 'Arn'), actions: r.Properties.AlarmActions ?? [],
    })),
    loop: loopDoc && loopView(stack, loopDoc, rules),
    generator: generator && roleView(stack, stack.ref(generator[0])),
    documents,
  };
}

function documentKind(path: string): string {
  if (path.includes('LifecycleGate')) return 'lifecycle-automation';
  if (path.includes('LaunchLoopProtection')) return 'launch-loop-automation';
  if (path.includes('Export')) return 'export';
  if (path.includes('Migrat')) return 'migration';
  if (path.includes('Installer')) return 'installer';
  return `unknown:${path}`;
}

function replicaKeyArnOf(stack: ResolvedStack, base: string): string | undefined {
  // A replica key set names its key in its grants (an alias ARN through kms:ResourceAliases, or a key ARN).
  for (const r of Object.values(stack.resources) as any[]) {
    if (r.Type !== 'AWS::IAM::Policy') continue;
    for (const s of r.Properties.PolicyDocument.Statement) {
      if (!String(s.Condition?.StringEquals?.['kms:ViaService'] ?? '').startsWith('secretsmanager.')) continue;
      const alias = s.Condition?.['ForAnyValue:StringEquals']?.['kms:ResourceAliases'];
      if (alias && ([] as string[]).concat(s.Action).includes('kms:Decrypt')) {
        return `arn:aws:kms:${stack.env.region}:${stack.env.account}:${([] as string[]).concat(alias)[0]}`;
      }
      if (([] as string[]).concat(s.Action).includes('kms:Decrypt') && String(s.Resource).includes(':key/')) return s.Resource;
    }
  }
  void base;
  return undefined;
}

function ruleView(stack: ResolvedStack, id: string, r: any): RuleView {
  return { name: stack.ref(id), arn: stack.att(id, 'Arn'), pattern: r.Properties.EventPattern, targets: r.Properties.Targets ?? [] };
}

function namespaceOf(content: any): string {
  return content.mainSteps.find((s: any) => s.inputs?.Api === 'PutMetricData')?.inputs.Namespace;
}

function loopView(stack: ResolvedStack, [id, doc]: [string, any], rules: RuleView[]): KeySetScene['loop'] {
  const name = stack.ref(id);
  const rule = rules.find((r) => r.targets[0]?.Arn.includes(`/${name}:`))!;
  return {
    automation: name,
    role: roleOfArn(stack, doc.Properties.Content.assumeRole),
    eventsRole: roleOfArn(stack, rule.targets[0].RoleArn),
    rule,
    alarmNames: Object.values(stack.resources)
      .filter((r: any) => r.Type === 'AWS::CloudWatch::Alarm' && pathOf(r).includes('LaunchLoopProtection'))
      .map((r: any) => r.Properties.AlarmName),
  };
}

function groupArn(account: string, region: string, name: string): string {
  return `arn:aws:autoscaling:${region}:${account}:autoScalingGroup:${uuidFor(name)}:autoScalingGroupName/${name}`;
}

function managedGroups(stack: ResolvedStack, base: string): GroupView[] {
  void base;
  return Object.entries(stack.resources)
    .filter(([, r]) => r.Type === 'AWS::AutoScaling::AutoScalingGroup' && r.Properties.LifecycleHookSpecificationList?.length)
    .map(([id, r]) => {
      const name = stack.ref(id);
      return {
        name,
        arn: groupArn(stack.env.account, stack.env.region, name),
        tags: tagsOf(r.Properties.Tags),
        instanceTags: { ...tagsOf(r.Properties.Tags, true), 'aws:autoscaling:groupName': name },
        hookName: r.Properties.LifecycleHookSpecificationList[0].LifecycleHookName,
        instanceRole: groupInstanceRole(stack, r),
      };
    });
}

function importedGroups(stack: ResolvedStack, options: SceneOptions): GroupView[] {
  return (options.importedGroups ?? []).map((g) => {
    const hook = Object.values(stack.resources)
      .find((r: any) => r.Type === 'AWS::AutoScaling::LifecycleHook' && r.Properties.AutoScalingGroupName === g.name) as any;
    return {
      name: g.name,
      arn: groupArn(stack.env.account, stack.env.region, g.name),
      tags: g.tags,
      instanceTags: { ...g.instanceTags, 'aws:autoscaling:groupName': g.name },
      hookName: hook.Properties.LifecycleHookName,
      instanceRole: g.roleName ? roleView(stack, g.roleName) : undefined,
    };
  });
}

function rolesAt(stack: ResolvedStack, pathParts: string[]): RoleView[] {
  return pathParts.map((part) => {
    const [id] = one(stack.resources, 'AWS::IAM::Role', part) ?? [];
    if (!id) throw new Error(`no role under ${part}`);
    return roleView(stack, stack.ref(id));
  });
}
