// Validate an AsyncAPI document with the official parser (@asyncapi/parser, Spectral rules).
// Usage: node validate-asyncapi.mjs <file.json>. Prints the diagnostics as JSON on stdout:
// {"errors": [...], "warnings": [...]}; exit status 1 when there is an error-level diagnostic.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
const text = await readFile(path, "utf8");
const { document, diagnostics } = await new Parser().parse(text);
const brief = (d) => ({ code: d.code, message: d.message, path: d.path.join("/") });
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).map(brief);
const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning).map(brief);
console.log(JSON.stringify({ parsed: document !== undefined, errors, warnings }, null, 1));
process.exit(errors.length > 0 || document === undefined ? 1 : 0);
