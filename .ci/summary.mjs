// Prints "N passed, N failed[, N skipped]" from vitest's JSON report.
import { readFileSync } from 'node:fs'

const file = process.argv[2]
let report
try {
  report = JSON.parse(readFileSync(file, 'utf8'))
} catch (error) {
  console.log(`0 passed, 1 failed: no test report at ${file} (${error.message})`)
  process.exit(1)
}
const skipped = report.numPendingTests + report.numTodoTests
// A file that fails to load has no tests in it but must still count as a failure.
const brokenFiles = report.testResults.filter((file) => file.status === 'failed' && file.assertionResults.length === 0).length
const failed = report.numFailedTests + brokenFiles
console.log(`${report.numPassedTests} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`)
process.exit(failed > 0 || report.numPassedTests === 0 ? 1 : 0)
