// Jest reporter: lists skipped tests at the end of a run, and under CI=true turns any skipped
// test into a failed run (tests that need moto_server, Felix, strace, ... must run in CI).
class SkipReporter {
  constructor() {
    this.skipped = [];
  }

  onTestResult(_test, result) {
    for (const t of result.testResults) {
      if (t.status === 'pending' || t.status === 'skipped' || t.status === 'todo') {
        this.skipped.push(`${t.ancestorTitles.concat(t.title).join(' > ')}`);
      }
    }
  }

  onRunComplete() {
    if (this.skipped.length === 0) return;
    const where = process.env.CI === 'true' ? 'CI requires every test to run; skipped' : 'skipped';
    process.stderr.write(`\n${where} ${this.skipped.length} test(s):\n${this.skipped.map((s) => `  - ${s}`).join('\n')}\n`);
  }

  getLastError() {
    if (process.env.CI === 'true' && this.skipped.length > 0) {
      return new Error(`${this.skipped.length} test(s) were skipped under CI`);
    }
    return undefined;
  }
}
module.exports = SkipReporter;
