#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ExampleAemStack } from './example-stack';

const app = new App();
// A second copy in the same account and region: cdk deploy -c exampleStackName=AemCryptoKeysExample2
// (with cdk.json's feature flags, nothing in it then has a fixed name).
new ExampleAemStack(app, app.node.tryGetContext('exampleStackName') ?? 'AemCryptoKeysExample', {
  description: 'Example AEM estate sharing one set of crypto keys (cdk-aem-crypto-keys)',
});
app.synth();
