#!/usr/bin/env bash
# Builds the second benchmark corpus, of another genre than bench/build_corpus.sh's: the Python
# 3.11 documentation's reStructuredText sources (Debian's python3.11-doc, about 1.4M words),
# raw, in a fixed file order. Quality decisions are checked on both corpora: a rule fitted to
# one text can fail on another. Needs root for apt-get.
# Usage: bench/build_python_docs_corpus.sh [OUT_FILE]   (default: /tmp/w2v-bench/pydocs.txt)
set -euo pipefail
out=${1:-/tmp/w2v-bench/pydocs.txt}
mkdir -p "$(dirname "$out")"
export DEBIAN_FRONTEND=noninteractive
if ! dpkg -s python3.11-doc >/dev/null 2>&1; then
  apt-get install -y -qq python3.11-doc >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq python3.11-doc >/dev/null; }
fi
find /usr/share/doc/python3.11/html/_sources -type f -name '*.txt' -print0 | sort -z | xargs -0 cat > "$out"
echo "$out: $(wc -w < "$out") words, $(wc -c < "$out") bytes (from python3.11-doc)"
