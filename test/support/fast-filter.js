// jest --filter for `npm run test:fast` (the edit loop: synth and unit tests, well under a minute).
// Which files run is decided by what each file uses, so a new test file falls in the right set
// without a list to keep:
// - A file that imports a support module starting a real component (moto_server, a Felix
//   framework, a stand-in AEM, the AWS CLI stand-in, a key set's instance with its secrets) runs
//   only in the full suite (`npm test`).
// - A file that says `@full-suite` in a comment (with the reason) runs only in the full suite:
//   for what no support module shows, such as building the package.
// - Everything else runs; in it, describeWithTools blocks that need a slow tool (cfn-lint,
//   strace, ...) skip in the fast run (test/support/tools.ts, AEM_KEYS_TESTS=fast).
'use strict';
const fs = require('fs');

/** The support modules that start real components (test/support/<name>.ts). */
const REAL_COMPONENTS = ['moto', 'felix', 'aem-stub', 'aws-stand-in', 'key-set-instance', 'secrets'];
const IMPORTS_REAL = new RegExp(`from '\\./support/(${REAL_COMPONENTS.join('|')})'`);
const FULL_SUITE_TAG = /^\s*(\/\/|\/?\*).*@full-suite\b/m;

/** True when the test file at `file` belongs to the fast set. */
function isFast(file) {
  const source = fs.readFileSync(file, 'utf8');
  return !IMPORTS_REAL.test(source) && !FULL_SUITE_TAG.test(source);
}

module.exports = async (testPaths) => ({ filtered: testPaths.filter(isFast) });
module.exports.isFast = isFast;
