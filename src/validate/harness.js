// rotor's JavaScript test harness (written into the sandbox as test_main.js).
//
// Reads spec.json ({"entry_point": str, "tests": [str]}) and solution.js,
// compiles the solution as a classic script (leading `export` / `export default`
// keywords are removed first), runs it in this context with `require`,
// `module`, `exports` and `assert` available, then runs each test statement as
// its own script (awaiting it when it returns a promise), stopping at the first
// failure. The outcome goes to result.json as one JSON object, the same shape
// as the Python harness writes.
'use strict';
const fs = require('node:fs');
const vm = require('node:vm');
const assert = require('node:assert');

const MAIN = process.pid;
const out = fs.openSync('result.json', 'w');

function report(verdict, detail, index, test, total) {
  if (process.pid !== MAIN) process.exit(0);
  fs.writeSync(out, JSON.stringify({
    verdict, detail: String(detail).slice(0, 1000),
    index: index === undefined ? null : index,
    total: total || 0,
    test: test === undefined ? null : test,
  }));
  fs.closeSync(out);
  process.exit(0);
}

function describe(err) {
  if (err === null || typeof err !== 'object') return 'thrown: ' + String(err);
  const name = err.name || 'Error';
  const first = String(err.message || '').trim().split('\n')[0];
  return first ? name + ': ' + first : name;
}

function solutionLine(err) {
  const stack = err && typeof err === 'object' ? String(err.stack || '') : '';
  const m = /solution\.js:(\d+)/.exec(stack);
  return m ? Number(m[1]) : null;
}

function isMemory(err) {
  return err instanceof RangeError &&
    /allocation failed|Invalid array length|Invalid typed array length|heap/i.test(String(err.message));
}

async function main() {
  const spec = JSON.parse(fs.readFileSync('spec.json', 'utf8'));
  const entry = spec.entry_point;
  const tests = spec.tests;
  const total = tests.length;
  const raw = fs.readFileSync('solution.js', 'utf8');
  const src = raw.replace(/^(\s*)export\s+(default\s+)?(?=(async\s+)?function|class|const|let|var)/gm, '$1');

  let script;
  try {
    script = new vm.Script(src, { filename: 'solution.js' });
  } catch (err) {
    const line = solutionLine(err);
    report('syntax_error', (line ? 'line ' + line + ': ' : '') + describe(err), null, null, total);
  }

  globalThis.require = require;
  globalThis.module = { exports: {} };
  globalThis.exports = globalThis.module.exports;
  globalThis.assert = assert;
  try {
    const r = script.runInThisContext();
    if (r && typeof r.then === 'function') await r;
  } catch (err) {
    if (isMemory(err)) report('crashed', 'memory limit', null, null, total);
    const line = solutionLine(err);
    report('crashed', 'error while loading' + (line ? ' at line ' + line : '') + ': ' + describe(err),
      null, null, total);
  }

  const defined = vm.runInThisContext('typeof ' + entry) !== 'undefined';
  if (!defined) {
    const exp = globalThis.module.exports;
    if (typeof exp === 'function') globalThis[entry] = exp;
    else if (exp && typeof exp === 'object' && entry in exp) globalThis[entry] = exp[entry];
    else report('tests_failed', 'the answer does not define ' + entry, null, null, total);
  }

  for (let i = 0; i < tests.length; i++) {
    const t = tests[i];
    try {
      const r = new vm.Script(t, { filename: '<test ' + (i + 1) + '>' }).runInThisContext();
      if (r && typeof r.then === 'function') await r;
    } catch (err) {
      if (isMemory(err)) report('crashed', 'memory limit', i, t, total);
      if (err && err.code === 'ERR_ASSERTION') {
        const msg = String(err.message || '').replace(/\s+/g, ' ').trim();
        report('tests_failed', msg, i, t, total);
      }
      report('tests_failed', describe(err), i, t, total);
    }
  }
  report('passed', '', null, null, total);
}

main().catch((err) => report('crashed', describe(err), null, null, 0));
