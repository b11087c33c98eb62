// The package's public API: exactly what users of every jsii language see (API.md). Building
// blocks of the constructs live in ./private, and other internal helpers (parameter names,
// patterns, renderers) stay in their modules: importable by the tests and the CLI, not exported here.
export { AemCryptoKeys } from './aem-crypto-keys';
export type { AemCryptoKeysProps, KeyLengths } from './aem-crypto-keys';
export type { AbandonedLaunchesMetricOptions, KeySetMetricOptions } from './key-set-metric-options';
export { KeySource, KeySourceKind } from './key-source';
export type { ExistingSecretOptions, ReplicaSourceOptions } from './key-source';
export { OnKeyMismatch, RestartBehavior } from './installer-options';
export type { InstallerOptions } from './installer-options';
export { InstallerDocument } from './installer-document';
export type { InstallerDocumentProps } from './installer-document';
export { TokenHandlerProperty } from './token-handler-property';
export { ExportDocument } from './export-document';
export type { ExportDocumentProps } from './export-document';
export { JcrKeyMigrationDocument } from './jcr-key-migration-document';
export type { JcrKeyMigrationDocumentProps } from './jcr-key-migration-document';
export type { AutoScalingGroupOptions, GatedAutoScalingGroup, GatedGroup } from './auto-scaling-group-options';
export { ComplianceSeverity, TagAssociation } from './tag-association';
export type { InstancesByTagOptions, TagAssociationProps } from './tag-association';
export { ReplicaKey } from './replica-key';
export type { ReplicaKeyProps } from './replica-key';
export { AbandonReason } from './abandon-reason';
export { AemCryptoKeysMonitoring } from './aem-crypto-keys-monitoring';
export type { AemCryptoKeysMonitoringProps } from './aem-crypto-keys-monitoring';
export { LaunchLoopProtection } from './launch-loop-protection';
export type { LaunchLoopProtectionOptions, LaunchLoopProtectionProps } from './launch-loop-protection';
