// jest globalSetup: runs once per `jest` run, before any worker starts; workers inherit the
// environment set here.
//
// - Scratch space in RAM: every test file makes AEM trees (thousands of files per genuine Felix
//   cache copy), and the scripts fsync what they write. On a disk that is I/O-bound and slow; on
//   tmpfs it is not. TMPDIR (os.tmpdir()) becomes a fresh folder on /dev/shm for this run,
//   world-writable and sticky like /tmp (the AEM test user must reach its trees), removed by
//   global-teardown.js with whatever a test left behind. Without a tmpfs nothing changes.
// - The built Felix caches stay where they were (AEM_KEYS_FELIX_CACHE_DIR, the original temp
//   folder): built once, kept between runs and clones.
// - AEM_KEYS_MOTO_DIR: where each worker records its moto_server (test/support/moto.ts).
const fs = require('fs');
const os = require('os');
const path = require('path');

const TMPFS_MAGIC = 0x01021994;
const MIN_FREE = 4 * 1024 ** 3;

function tmpfsBase() {
  const base = process.env.AEM_KEYS_TEST_TMPFS ?? '/dev/shm';
  try {
    const fsInfo = fs.statfsSync(base);
    // A tmpfs with room for the run's trees (a container's default /dev/shm of 64 MiB has not).
    if (fsInfo.type !== TMPFS_MAGIC || fsInfo.bavail * fsInfo.bsize < MIN_FREE) return undefined;
    fs.accessSync(base, fs.constants.W_OK);
    return base;
  } catch {
    return undefined;
  }
}

module.exports = async () => {
  if (process.env.AEM_KEYS_FELIX_CACHE_DIR === undefined) process.env.AEM_KEYS_FELIX_CACHE_DIR = os.tmpdir();
  const base = tmpfsBase();
  const run = fs.mkdtempSync(path.join(base ?? os.tmpdir(), 'aem-keys-test-run-'));
  fs.chmodSync(run, 0o1777);
  process.env.AEM_KEYS_TEST_RUN_DIR = run;
  if (base) process.env.TMPDIR = run;
  process.env.AEM_KEYS_MOTO_DIR = path.join(run, '.moto');
  fs.mkdirSync(process.env.AEM_KEYS_MOTO_DIR, { mode: 0o700 });
};
