// Loaded by scripts/test.mjs before every test file. Node 20's assert.ok(value) without a
// message, when it fails in a file loaded through tsx, rebuilds the failing expression from the
// source at a stack position that does not match the transpiled code, and that search can spin
// for minutes (a CI run once reported a 300 s file timeout for a plain failed assert). Here a
// message-less failing ok() gets a message at once, so a failure shows as a failure; the
// runner's --enable-source-maps makes the stack name the TypeScript line.
import assert from "node:assert";

for (const target of [assert, assert.strict]) {
  const original = target.ok;
  target.ok = function ok(...args) {
    // ok() with no argument at all keeps Node's own error ("No value argument passed").
    if (args.length >= 1 && !args[0] && args[1] === undefined) {
      args[1] = `assert.ok failed: the value was ${String(args[0])} (no message given; see the stack for the line)`;
    }
    return original.apply(this, args);
  };
}
