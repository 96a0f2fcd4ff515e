// Adds up the JUnit XML files of every suite into one closing line: "N passed, N failed, N skipped".
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const dir = process.argv[2] ?? 'test-results';
let tests = 0, failures = 0, skipped = 0;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.xml'))) {
  const xml = readFileSync(join(dir, f), 'utf8');
  // Count <testcase> elements: suite-level attributes differ between reporters.
  const cases = xml.match(/<testcase\b[\s\S]*?(?:\/>|<\/testcase>)/g) ?? [];
  for (const c of cases) {
    tests++;
    if (/<(failure|error)\b/.test(c)) failures++;
    else if (/<skipped\b/.test(c)) skipped++;
  }
}
console.log(`\ntests: ${tests - failures - skipped} passed, ${failures} failed, ${skipped} skipped`);
