// Peer of `LoRAM.Bench tokenize`: the same corpus through @lenml/tokenizers 3.7.2 (transformers.js's tokenizers, pure
// JS) and Hugging Face tokenizers 0.22.2 (Rust, @anush008/tokenizers N-API build), one document at a time, median of
// the repeats. Also writes the corpus and the tokenizer folders the C# suite reads.
// Run from a folder where those packages are installed (see tests/Llama.Tests/Tokenization/fixtures/README.md):
//   node tokenize.mjs OUT_DIR [REPS]     → OUT_DIR/corpus.json, OUT_DIR/<name>/tokenizer.json, figures on stdout
import fs from "fs";
import path from "path";
import { createRequire } from "module";
const require = createRequire(path.join(process.cwd(), "x.js"));
const { TokenizerLoader } = require("@lenml/tokenizers");
const { Tokenizer } = require("@anush008/tokenizers");

const out = process.argv[2] ?? "/tmp/tokbench";
const reps = Number(process.argv[3] ?? 5);
fs.mkdirSync(out, { recursive: true });

// ~3 MB of mixed text: 150 documents of ~20k characters, each a seeded mix of English prose, code, numbers, CJK,
// Arabic, Cyrillic, emoji and whitespace runs (a different seed per document, so documents differ).
const parts = ["The quick brown fox jumps over the lazy dog.", "It was the best of times, it was the worst of times;",
  "def f(x):\n    return x**2  # square\n", "for (int i = 0; i < n; ++i) { a[i] += b[i]; }", "3.14159", "1,000,000",
  "2024-01-01", "naïve café", "你好，世界。", "日本語のテキスト", "مرحبا بالعالم", "русский текст", "🙂", "👍🏽", "\n", "\n\n", "  ", "\t",
  "I'm", "they've", "DON'T", "Ångström", "supercalifragilistic", "{\"key\": [1, 2, 3]}", "https://example.org/a?b=c"];
const docs = [];
for (let d = 0; d < 150; d++) {
  let s = 1000 + d;
  const rnd = () => (s = (s * 1103515245 + 12345) % 2147483648) / 2147483648;
  let t = "";
  while (t.length < 20000) t += parts[Math.floor(rnd() * parts.length)] + (rnd() < 0.6 ? " " : "");
  docs.push(t);
}
fs.writeFileSync(path.join(out, "corpus.json"), JSON.stringify(docs));
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0);

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
async function time(label, encode) {
  for (const d of docs) await encode(d);   // warm-up
  const runs = [];
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    for (const d of docs) await encode(d);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  const m = median(runs);
  console.log(`${label}: ${docs.length} documents, ${(bytes / 1e6).toFixed(2)} MB; encode median ${m.toFixed(3)} s of ${reps} = ${(bytes / 1e6 / m).toFixed(2)} MB/s`);
}

for (const name of ["llama2", "llama3_1"]) {
  const dir = path.dirname(require.resolve(`@lenml/tokenizer-${name}/models/tokenizer.json`));
  fs.mkdirSync(path.join(out, name), { recursive: true });
  fs.copyFileSync(path.join(dir, "tokenizer.json"), path.join(out, name, "tokenizer.json"));
  fs.copyFileSync(path.join(dir, "tokenizer_config.json"), path.join(out, name, "tokenizer_config.json"));
  const js = TokenizerLoader.fromPreTrained({
    tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
    tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
  });
  await time(`${name} @lenml/tokenizers (JS)`, (d) => js.encode(d, { add_special_tokens: false }));
  const hf = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
  await time(`${name} HF tokenizers 0.22.2 (Rust)`, (d) => hf.encode(d, null, { addSpecialTokens: false }));
}
