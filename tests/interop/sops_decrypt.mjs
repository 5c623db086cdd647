// Decrypt one SOPS file with the npm package `sops-age` and print the plaintext as JSON.
//
// Usage: node sops_decrypt.mjs FILE [AGE identity]
// The secret key may instead come from the environment variable SOPS_AGE_KEY (preferred: argv
// is visible to other processes). `sops-age` is loaded from the directory named by
// GENPOLICY_NODE_MODULES (default: node_modules next to this script).
// Test helper only: `sops-age` decrypts, it never encrypts, and it does not check the MAC.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules = process.env.GENPOLICY_NODE_MODULES || path.join(here, "node_modules");

async function loadSopsAge() {
  const require = createRequire(path.join(path.resolve(modules), "resolve-anchor.js"));
  const entry = require.resolve("sops-age");
  return import(pathToFileURL(entry).href);
}

async function main() {
  const [file, keyArg] = process.argv.slice(2);
  const secretKey = keyArg || process.env.SOPS_AGE_KEY;
  if (!file || !secretKey) {
    process.stderr.write("usage: node sops_decrypt.mjs FILE [AGE-SECRET-KEY] (or SOPS_AGE_KEY)\n");
    process.exit(2);
  }
  const { decryptSops } = await loadSopsAge();
  const text = await readFile(file, "utf8");
  const plain = await decryptSops(text, { secretKey: secretKey.trim(), fileType: "yaml" });
  process.stdout.write(JSON.stringify(plain) + "\n");
}

main().catch((err) => {
  process.stderr.write(`sops-age failed: ${err && err.message ? err.message : err}\n`);
  process.exit(1);
});
