// Runs in every test file before it loads (jest setupFiles).
//
// aws-cdk-lib runs its built-in CloudFormation validation (a WebAssembly rule engine) on every
// synth unless CDK_VALIDATION=false; starting that engine costs seconds in each test file, and in
// its default mode it only prints warnings (no test could fail on it). The suite turns it off
// and checks it once, explicitly, where it exists: package.test.ts runs it in the consumer app
// with the newest aws-cdk-lib (the lowest supported version, 2.257, predates it).
if (process.env.CDK_VALIDATION === undefined) process.env.CDK_VALIDATION = 'false';
