#!/usr/bin/env bash
# Builds the benchmark corpus: about 4.6 million words of real English technical prose, raw
# (markup, code and all): the Linux kernel documentation (Debian's linux-doc, ~3.7M words) and
# Perl's reference documentation (Debian's perl-doc, .pod files without the per-release
# "delta" notes, ~0.9M words). Needs root for apt-get. Takes about a minute.
# Usage: bench/build_corpus.sh [OUT_FILE]   (default: /tmp/w2v-bench/corpus.txt)
set -euo pipefail
out=${1:-/tmp/w2v-bench/corpus.txt}
mkdir -p "$(dirname "$out")"
pkg=$(apt-cache search --names-only '^linux-doc-[0-9.]+$' 2>/dev/null | sort -V | head -1 | cut -d' ' -f1)
if [ -z "$pkg" ]; then apt-get update -qq; pkg=$(apt-cache search --names-only '^linux-doc-[0-9.]+$' | sort -V | head -1 | cut -d' ' -f1); fi
export DEBIAN_FRONTEND=noninteractive
dpkg -s "$pkg" >/dev/null 2>&1 || apt-get install -y -qq "$pkg" >/dev/null
dpkg -s perl-doc >/dev/null 2>&1 || apt-get install -y -qq perl-doc >/dev/null
root=/usr/share/doc/$pkg/Documentation
{
  find "$root" \( -name '*.rst.gz' -o -name '*.txt.gz' \) -print0 | sort -z | xargs -0 zcat
  dpkg -L perl-doc | grep -E '\.pod$' | grep -v delta | sort | xargs cat
} > "$out"
echo "$out: $(wc -w < "$out") words, $(wc -c < "$out") bytes (from $pkg and perl-doc)"
