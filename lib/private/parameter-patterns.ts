// Pure data (no aws-cdk-lib): the aem-keys CLI bundles it too.

/** Secrets Manager secret ARN, in every partition. The same expression as AEMKEYS_ARN_RE in aem-keys-common.sh. */
export const SECRET_ARN_PATTERN =
  '^arn:(aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b):secretsmanager:([a-z]{2}(-[a-z]{1,10}){1,3}-[0-9]{1,2}):([0-9]{12}):secret:([A-Za-z0-9/_+=.@-]{1,512})$';

/** Parameter patterns, each the same as the script's own check (aem-keys-common.sh). */
export const PARAMETER_PATTERNS = {
  secretArn: SECRET_ARN_PATTERN,
  optionalSecretArn: `^(${SECRET_ARN_PATTERN.slice(1, -1)})?$`,
  path: '^/[-A-Za-z0-9_./ @+,:=~]{0,255}$',
  user: '^[a-z_][a-z0-9_-]{0,31}$',
  unit: '^[A-Za-z0-9_][A-Za-z0-9:_.@-]{0,254}$',
  port: '^[1-9][0-9]{0,4}$',
  bytes: '^[1-9][0-9]{0,3}$',
  seconds: '^[1-9][0-9]{0,4}$',
} as const;
