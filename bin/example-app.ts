#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { ExampleAemStack } from './example-stack';

const app = new App();
new ExampleAemStack(app, 'AemCryptoKeysExample', {
  description: 'Example AEM estate sharing one set of crypto keys (cdk-aem-crypto-keys)',
});
app.synth();
