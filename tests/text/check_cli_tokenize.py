#!/usr/bin/python3
"""CLI test of `simad tokenize` against Python jieba (Debian python3-jieba), run by ctest.

  check_cli_tokenize.py SIMAD CORPUS WORKDIR

For both modes, simad's output on CORPUS must equal, line for line, Python's
' '.join(w for w in jieba.cut(line, HMM=...) if w.strip()); and --jsonl --field on the same lines
(written as JSON objects) must print the same (HMM mode). Exits 77 (ctest: skipped) when jieba is missing.
"""
import json
import logging
import os
import subprocess
import sys

try:
    import jieba
except ImportError:
    print("skipped: python3-jieba is not installed")
    sys.exit(77)


def main():
    simad, corpus, work = sys.argv[1:4]
    jieba.setLogLevel(logging.WARNING)
    data = open(corpus, "rb").read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    texts = [raw.decode("utf-8") for raw in lines]
    os.makedirs(work, exist_ok=True)
    jsonl = os.path.join(work, "cli_tokenize.jsonl")
    with open(jsonl, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": i, "text": t}, ensure_ascii=False) + "\n")
    failures = 0
    for hmm in (True, False):
        want = [" ".join(w for w in jieba.cut(t, HMM=hmm) if w.strip()) for t in texts]
        flags = [] if hmm else ["--no-hmm"]
        runs = [["--input", corpus]] + ([["--jsonl", "--field", "text", "--input", jsonl]] if hmm else [])
        for args in runs:
            got = subprocess.run([simad, "tokenize"] + flags + args, check=True, stdout=subprocess.PIPE).stdout
            got_lines = got.decode("utf-8").split("\n")
            if got_lines and got_lines[-1] == "":
                got_lines.pop()
            if len(got_lines) != len(want):
                print("%s: %d output lines for %d input lines" % (args, len(got_lines), len(want)))
                failures += 1
                continue
            bad = [i for i in range(len(want)) if got_lines[i] != want[i]]
            for i in bad[:5]:
                print("HMM=%s %s line %d\n  jieba: %r\n  simad: %r" % (hmm, args[0], i + 1, want[i], got_lines[i]))
            print("HMM=%s %s: %d lines, %d mismatches" % (hmm, " ".join(args[:-1]), len(want), len(bad)))
            failures += len(bad)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
