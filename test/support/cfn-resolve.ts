import { createHash } from 'crypto';

/**
 * Resolves a synthesized template's intrinsic functions (Ref, Fn::GetAtt, Fn::Join, Fn::Sub,
 * Fn::Select, Fn::Split, Fn::GetAZs, Fn::Base64, pseudo parameters) to the concrete values
 * CloudFormation would give them in a fixed test account and region, so the template's IAM,
 * resource and key policies can be evaluated against concrete request ARNs.
 *
 * Physical names: a resource's own name property when the template sets one, else a generated
 * name shaped like CloudFormation's (`<stack>-<logicalId>-<13 characters>`), deterministic per
 * stack and logical ID. Secret ARNs end in `-` and six characters, as Secrets Manager's do.
 * Attributes and Ref values follow the CloudFormation resource reference ("Return values").
 */

export const TEST_ACCOUNT = '111122223333';

export interface StackEnv {
  readonly stackName: string;
  readonly region: string;
  readonly account?: string;
}

export interface ResolvedStack {
  readonly env: Required<StackEnv>;
  /** Resources with every intrinsic resolved (Metadata kept). */
  readonly resources: Record<string, any>;
  /** Ref of a logical ID. */
  ref(id: string): string;
  /** Fn::GetAtt of a logical ID. */
  att(id: string, attribute: string): string;
}

/** A short, stable hash (hex). */
export function hashOf(text: string, length = 12): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

const NAME_PROPERTY: Record<string, string> = {
  'AWS::SecretsManager::Secret': 'Name',
  'AWS::IAM::Role': 'RoleName',
  'AWS::IAM::Policy': 'PolicyName',
  'AWS::IAM::ManagedPolicy': 'ManagedPolicyName',
  'AWS::SSM::Document': 'Name',
  'AWS::Logs::LogGroup': 'LogGroupName',
  'AWS::SQS::Queue': 'QueueName',
  'AWS::SNS::Topic': 'TopicName',
  'AWS::Events::Rule': 'Name',
  'AWS::AutoScaling::AutoScalingGroup': 'AutoScalingGroupName',
  'AWS::Lambda::Function': 'FunctionName',
  'AWS::CloudWatch::Alarm': 'AlarmName',
  'AWS::KMS::Alias': 'AliasName',
  'AWS::AutoScaling::LifecycleHook': 'LifecycleHookName',
  'AWS::Logs::ResourcePolicy': 'PolicyName',
  'AWS::SSM::Association': 'AssociationName',
  'AWS::EC2::LaunchTemplate': 'LaunchTemplateName',
  'AWS::IAM::InstanceProfile': 'InstanceProfileName',
};

export function resolveStack(template: any, env: StackEnv): ResolvedStack {
  const full: Required<StackEnv> = { account: TEST_ACCOUNT, ...env };
  const raw: Record<string, any> = template.Resources ?? {};
  const params: Record<string, any> = template.Parameters ?? {};
  const names = new Map<string, string>();

  const pseudo: Record<string, string> = {
    'AWS::AccountId': full.account,
    'AWS::Region': full.region,
    'AWS::Partition': 'aws',
    'AWS::URLSuffix': 'amazonaws.com',
    'AWS::StackName': full.stackName,
    'AWS::StackId': `arn:aws:cloudformation:${full.region}:${full.account}:stack/${full.stackName}/${uuidFor(full.stackName)}`,
    'AWS::NoValue': '',
  };

  const physicalName = (id: string): string => {
    const cached = names.get(id);
    if (cached !== undefined) return cached;
    const r = raw[id];
    const prop = NAME_PROPERTY[r.Type];
    const given = prop ? r.Properties?.[prop] : undefined;
    const name = given !== undefined
      ? String(resolve(given))
      : `${full.stackName.slice(0, 30)}-${id.slice(0, 20)}-${hashOf(`${full.stackName}/${id}`, 13).toUpperCase()}`;
    names.set(id, name);
    return name;
  };

  const arn = (service: string, rest: string) => `arn:aws:${service}:${full.region}:${full.account}:${rest}`;

  const ref = (id: string): string => {
    if (id in pseudo) return pseudo[id];
    if (id in params) return String(params[id].Default ?? `${id}-parameter`);
    const r = raw[id];
    if (!r) throw new Error(`Ref to unknown logical ID ${id}`);
    const name = physicalName(id);
    switch (r.Type) {
      case 'AWS::SecretsManager::Secret': return att(id, 'Id');
      case 'AWS::SQS::Queue': return `https://sqs.${full.region}.amazonaws.com/${full.account}/${name}`;
      case 'AWS::SNS::Topic': return arn('sns', name);
      case 'AWS::KMS::Key': return uuidFor(`${full.stackName}/${id}`);
      case 'AWS::SSM::Association': return uuidFor(`${full.stackName}/${id}`);
      default: return name;
    }
  };

  const att = (id: string, attribute: string): string => {
    const r = raw[id];
    if (!r) throw new Error(`Fn::GetAtt of unknown logical ID ${id}`);
    const name = physicalName(id);
    const key = `${r.Type}.${attribute}`;
    switch (key) {
      case 'AWS::SecretsManager::Secret.Id':
        return arn('secretsmanager', `secret:${name}-${secretSuffix(name)}`);
      case 'AWS::KMS::Key.Arn': return arn('kms', `key/${ref(id)}`);
      case 'AWS::KMS::Key.KeyId': return ref(id);
      case 'AWS::IAM::Role.Arn': return `arn:aws:iam::${full.account}:role${resolve(r.Properties?.Path ?? '/')}${name}`;
      case 'AWS::IAM::Role.RoleId': return `AROA${hashOf(name, 17).toUpperCase()}`;
      case 'AWS::Logs::LogGroup.Arn': return arn('logs', `log-group:${name}:*`);
      case 'AWS::SQS::Queue.Arn': return arn('sqs', name);
      case 'AWS::SQS::Queue.QueueName': return name;
      case 'AWS::SQS::Queue.QueueUrl': return ref(id);
      case 'AWS::SNS::Topic.TopicArn': return ref(id);
      case 'AWS::SNS::Topic.TopicName': return name;
      case 'AWS::Events::Rule.Arn': return arn('events', `rule/${name}`);
      case 'AWS::Lambda::Function.Arn': return arn('lambda', `function:${name}`);
      case 'AWS::CloudWatch::Alarm.Arn': return arn('cloudwatch', `alarm:${name}`);
      case 'AWS::SSM::Association.AssociationId': return ref(id);
      case 'AWS::EC2::LaunchTemplate.LatestVersionNumber':
      case 'AWS::EC2::LaunchTemplate.DefaultVersionNumber': return '1';
      case 'AWS::KMS::Alias.Arn': return arn('kms', name);
      case 'AWS::IAM::InstanceProfile.Arn': return `arn:aws:iam::${full.account}:instance-profile/${name}`;
      default:
        return `${name}.${attribute}`;
    }
  };

  const sub = (text: string, vars: Record<string, any>): string =>
    text.replace(/\$\{([^}!][^}]*)\}/g, (_m, expr: string) => {
      if (expr in vars) return String(resolve(vars[expr]));
      const dot = expr.indexOf('.');
      return dot > 0 && !(expr in pseudo) ? att(expr.slice(0, dot), expr.slice(dot + 1)) : ref(expr);
    });

  const resolve = (value: any): any => {
    if (Array.isArray(value)) return value.map(resolve);
    if (!value || typeof value !== 'object') return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [k] = keys;
      const v = value[k];
      switch (k) {
        case 'Ref': return ref(v);
        case 'Fn::GetAtt': {
          const [id, attribute] = Array.isArray(v) ? v : String(v).split(/\.(.*)/);
          return att(id, resolve(attribute));
        }
        case 'Fn::Join': return (resolve(v[1]) as any[]).join(v[0]);
        case 'Fn::Sub': return Array.isArray(v) ? sub(v[0], v[1]) : sub(v, {});
        case 'Fn::Select': return resolve(v[1])[Number(resolve(v[0]))];
        case 'Fn::Split': return String(resolve(v[1])).split(v[0]);
        case 'Fn::GetAZs': return ['a', 'b', 'c'].map((z) => `${full.region}${z}`);
        case 'Fn::Base64': return Buffer.from(String(resolve(v))).toString('base64');
        case 'Fn::ImportValue': throw new Error(`Fn::ImportValue is not resolved here: ${JSON.stringify(v)}`);
        default:
          if (k.startsWith('Fn::')) return value; // conditions (Fn::If, Fn::Equals...) are left as they are
      }
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v)]));
  };

  const resources = Object.fromEntries(Object.entries(raw).map(([id, r]) => [id, {
    ...r,
    Properties: resolve(r.Properties ?? {}),
  }]));
  return { env: full, resources, ref, att };
}

/** Secrets Manager appends `-` and six random characters to a secret's name in its ARN. */
export function secretSuffix(name: string): string {
  return hashOf(`secret/${name}`, 6).replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]);
}

/** A stable UUID-shaped identifier for `text`. */
export function uuidFor(text: string): string {
  const h = hashOf(text, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parses a policy that a template may hold as a JSON string (Logs resource policy) or an object. */
export function policyDocument(value: any): any {
  return typeof value === 'string' ? JSON.parse(value) : value;
}
