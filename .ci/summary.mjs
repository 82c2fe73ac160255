// Prints "N passed, N failed[, N skipped]" over vitest's JSON reports (the
// main run and each Node version of the matrix), after one line per report and,
// under it, each failed test with the first line of its failure: the end of a
// CI log is often all that is kept of it.
import { readFileSync } from 'node:fs'
import path from 'node:path'

const totals = { passed: 0, failed: 0, skipped: 0 }
let missing = 0
for (const file of process.argv.slice(2)) {
  let report
  try {
    report = JSON.parse(readFileSync(file, 'utf8'))
  } catch (error) {
    console.log(`${path.basename(file)}: no test report (${error.message})`)
    missing++
    continue
  }
  // A file that fails to load has no tests in it but must still count as a failure.
  const brokenFiles = report.testResults.filter((result) => result.status === 'failed' && result.assertionResults.length === 0)
  const counts = { passed: report.numPassedTests, failed: report.numFailedTests + brokenFiles.length, skipped: report.numPendingTests + report.numTodoTests }
  console.log(`${path.basename(file)}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`)
  for (const key of Object.keys(totals)) totals[key] += counts[key]
  for (const result of report.testResults) {
    const testFile = path.relative(process.cwd(), result.name)
    if (brokenFiles.includes(result)) console.log(`  failed: ${testFile}: ${firstLine(result.message)}`)
    for (const test of result.assertionResults.filter((assertion) => assertion.status === 'failed')) {
      console.log(`  failed: ${testFile} > ${test.fullName}: ${firstLine(test.failureMessages?.[0])}`)
    }
  }
}
totals.failed += missing

function firstLine (text) {
  return (text ?? '').split('\n', 1)[0].slice(0, 300)
}
console.log(`${totals.passed} passed, ${totals.failed} failed${totals.skipped > 0 ? `, ${totals.skipped} skipped` : ''}`)
process.exit(totals.failed > 0 || totals.passed === 0 ? 1 : 0)
