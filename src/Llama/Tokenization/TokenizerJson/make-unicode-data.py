# Writes unicode-normalization.bin.gz, the tables UnicodeNormalization.cs reads (the project runs with
# InvariantGlobalization, where string.Normalize does nothing). Source: Python's unicodedata (Unicode 14.0 on the
# machine it was run on). Run: python3 make-unicode-data.py   (from this folder)
# Layout, little-endian uint32 words: count, then per entry (code point, kind 0 canonical / 1 compatibility, length,
# code points...) of full NFD / NFKD decompositions (Hangul syllables left to the algorithm); count, then (code point,
# combining class) pairs; count, then (first, second, composite) primary composites.
import gzip, struct, unicodedata as u

words = []
decomp = []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3: continue
    c = chr(cp)
    nfd, nfkd = u.normalize("NFD", c), u.normalize("NFKD", c)
    if nfd != c: decomp.append((cp, 0, nfd))
    if nfkd != nfd: decomp.append((cp, 1, nfkd))
words.append(len(decomp))
for cp, kind, s in decomp: words += [cp, kind, len(s)] + [ord(x) for x in s]
ccc = [(cp, u.combining(chr(cp))) for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF and u.combining(chr(cp))]
words.append(len(ccc))
for cp, k in ccc: words += [cp, k]
comp = []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3: continue
    d = u.decomposition(chr(cp))
    if not d or d.startswith("<"): continue
    parts = [int(x, 16) for x in d.split()]
    if len(parts) == 2 and u.normalize("NFC", chr(cp)) == chr(cp): comp.append((parts[0], parts[1], cp))
words.append(len(comp))
for a, b, c in comp: words += [a, b, c]
with gzip.open("unicode-normalization.bin.gz", "wb", 9) as f: f.write(struct.pack(f"<{len(words)}I", *words))
print(len(decomp), len(ccc), len(comp))
