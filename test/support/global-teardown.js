// jest globalTeardown: stops the workers' moto_servers and removes this run's scratch folder
// (see global-setup.js).
const fs = require('fs');
const path = require('path');

module.exports = async () => {
  const run = process.env.AEM_KEYS_TEST_RUN_DIR;
  const motos = process.env.AEM_KEYS_MOTO_DIR;
  if (motos && fs.existsSync(motos)) {
    for (const f of fs.readdirSync(motos).filter((n) => n.endsWith('.json'))) {
      const { pid } = JSON.parse(fs.readFileSync(path.join(motos, f), 'utf8'));
      try {
        process.kill(-pid, 'SIGTERM'); // its own process group (spawned detached)
      } catch {
        // already gone
      }
    }
  }
  if (run) fs.rmSync(run, { recursive: true, force: true });
};
