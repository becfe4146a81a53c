'use strict';
// Checks JSON bodies against JavaScript's own JSON.stringify, for tests/test_js_json.py and
// tests/test_node_sdk_webhooks.py. One request per stdin line, one answer per stdout line, so a
// single process serves a whole test session.
//
// Request:  `<base64 of our bytes>` or `<base64 of our bytes> <base64 of a reference JSON text>`.
//   The reference holds the same value written by another encoder (Python's json.dumps), so
//   JSON.stringify(JSON.parse(reference)) is what JavaScript writes for that value.
// Answer:   {"identity": JSON.stringify(JSON.parse(ours)) === ours,
//            "same": ours === JSON.stringify(JSON.parse(reference)) (null without a reference),
//            "js": base64 of what JavaScript wrote (null when it could not), "error": string|null}
// Base64 framing keeps raw U+2028, newlines or invalid UTF-8 from breaking the line protocol.

const readline = require('node:readline');

const decoder = new TextDecoder('utf-8', { fatal: true });

function check(line) {
  const [oursB64, refB64] = line.trim().split(' ');
  const answer = { identity: false, same: null, js: null, error: null };
  let ours;
  try {
    ours = decoder.decode(Buffer.from(oursB64, 'base64'));
  } catch (err) {
    answer.error = `not UTF-8: ${err.message}`;
    return answer;
  }
  try {
    answer.identity = JSON.stringify(JSON.parse(ours)) === ours;
  } catch (err) {
    answer.error = `not JSON: ${err.message}`;
    return answer;
  }
  if (refB64 !== undefined) {
    const js = JSON.stringify(JSON.parse(Buffer.from(refB64, 'base64').toString('utf8')));
    answer.same = ours === js;
    answer.js = Buffer.from(js, 'utf8').toString('base64');
  }
  return answer;
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
rl.on('line', (line) => {
  let answer;
  try {
    answer = check(line);
  } catch (err) {
    answer = { identity: false, same: false, js: null, error: String(err && err.message) };
  }
  process.stdout.write(JSON.stringify(answer) + '\n');
});
