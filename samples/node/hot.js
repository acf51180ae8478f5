// A JavaScript sample whose CPU time is one hot function that V8 compiles and keeps
// compiled (for --perf-basic-prof: its code is named in /tmp/perf-PID.map). Runs for
// --seconds (default 3); prints "ready" once it starts.
"use strict";

function hot(n) {
  let total = 0;
  for (let i = 0; i < n; i++) {
    total = (total + i * i) % 1000003;
  }
  return total;
}

function run(seconds) {
  const end = Date.now() + seconds * 1000;
  let sink = 0;
  while (Date.now() < end) {
    sink ^= hot(20000);
  }
  return sink;
}

const index = process.argv.indexOf("--seconds");
const seconds = index >= 0 ? Number(process.argv[index + 1]) : 3;
process.stdout.write("ready\n");
run(seconds);
