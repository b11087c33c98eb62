#!/usr/bin/env node
// The three-region example: npx cdk synth --app "npx ts-node --prefer-ts-exts bin/multi-region-app.ts"
import { App } from 'aws-cdk-lib';
import { addMultiRegionEstate } from './multi-region-stacks';

const app = new App();
addMultiRegionEstate(app);
app.synth();
