'use strict';
// The order jest runs the test files in: the longest first. Without jest's timing cache (a fresh
// clone, CI) jest orders files by size, so a short file that runs long (installer-kill waits for
// its kills) starts last and the run ends on it alone. Seconds from one run of each file alone on
// the 2-core development machine (2026-12-01); files not listed keep jest's own order after these.
const path = require('path');
const Sequencer = require('@jest/test-sequencer').default;

const LONGEST = {
  'installer-kill': 47,
  'installer-script': 42,
  'trust-boundary': 38,
  'aws-stand-in': 22,
  'installer-aem-layouts': 18,
  'association-logs': 18,
  migration: 18,
  package: 14,
  api: 10,
  'example-stack': 9,
  export: 9,
};

class LongestFirst extends Sequencer {
  async sort(tests) {
    const ordered = await super.sort(tests);
    const seconds = (t) => LONGEST[path.basename(t.path, '.test.ts')] ?? 0;
    return [...ordered].sort((a, b) => seconds(b) - seconds(a)); // stable: the rest keeps jest's order
  }
}

module.exports = LongestFirst;
module.exports.LONGEST = LONGEST;
