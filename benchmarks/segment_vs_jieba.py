#!/usr/bin/python3
"""Segmentation throughput: simad vs Python jieba on the same corpus, in the same run.

  benchmarks/segment_vs_jieba.py --simad build/tools/simad/simad [--corpus FILE] [--megabytes 12]

Without --corpus, a corpus of --megabytes (default 12, >= 10 MB) of generated ad copy is written by
tests/tools/make_text_corpus.py (seed 2) into a temporary directory. Both sides segment each line as
one text on one thread: Python with jieba.cut(line, HMM=...) in this process (dictionary loaded
first, not timed), simad with `simad bench text` (loaded first too; its load time is printed).
The token counts of the two sides must agree (the same segmentation), or the row says MISMATCH.
Runs on Debian's python3 (where python3-jieba lives).
"""
import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time

import jieba


def time_jieba(lines, nbytes, hmm, min_time):
    passes, tokens = [], 0
    t_mode = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        n = 0
        for line in lines:
            for _ in jieba.cut(line, HMM=hmm):
                n += 1
        passes.append(time.perf_counter() - t0)
        tokens = n
        if time.perf_counter() - t_mode >= min_time:
            break
    passes.sort()
    return nbytes / 1e6 / passes[len(passes) // 2], tokens, len(passes)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--simad", required=True, help="the simad program")
    p.add_argument("--corpus", help="UTF-8 lines (default: generate one)")
    p.add_argument("--megabytes", type=float, default=12.0, help="size of the generated corpus")
    p.add_argument("--min-time", type=float, default=0.0, help="least seconds per side and mode (whole passes)")
    p.add_argument("--json", help="also write the results to FILE")
    a = p.parse_args()

    tmp = tempfile.TemporaryDirectory()
    corpus = a.corpus
    if not corpus:
        corpus = os.path.join(tmp.name, "ads.txt")
        subprocess.run([sys.executable, os.path.join(here, "..", "tests", "tools", "make_text_corpus.py"),
                        "--megabytes", str(a.megabytes), "--seed", "2", corpus], check=True)
    data = open(corpus, "rb").read()
    raw_lines = data.split(b"\n")
    if raw_lines and raw_lines[-1] == b"":
        raw_lines.pop()
    lines = [raw.decode("utf-8") for raw in raw_lines]

    jieba.setLogLevel(logging.WARNING)
    t0 = time.perf_counter()
    jieba.initialize()
    jieba_load = time.perf_counter() - t0

    simad_json = os.path.join(tmp.name, "simad.json")
    subprocess.run([a.simad, "bench", "text", "--corpus", corpus, "--json", simad_json,
                    "--min-time", str(a.min_time)], check=True, stdout=subprocess.DEVNULL)
    simad = json.load(open(simad_json))

    print("segmentation throughput, 1 thread: %s, %.2f MB, %d lines (%s, %s)" %
          (a.corpus or "generated ad copy", len(data) / 1e6, len(lines), platform.processor() or platform.machine(),
           "python " + platform.python_version()))
    print("load: simad %.3f s, Python jieba %.3f s (jieba.initialize, from its cache when present)" %
          (simad["load_seconds"], jieba_load))
    print("| mode | simad MB/s | jieba MB/s | simad/jieba | tokens |")
    print("|---|---|---|---|---|")
    results = []
    for row in simad["rows"]:
        hmm = row["mode"] == "hmm"
        py_mbps, py_tokens, py_passes = time_jieba(lines, len(data), hmm, a.min_time)
        same = py_tokens == row["tokens"]
        ratio = row["mb_per_s"] / py_mbps
        print("| %s | %.2f | %.3f | %.1fx | %d%s |" % (row["mode"], row["mb_per_s"], py_mbps, ratio, py_tokens,
                                                     "" if same else " MISMATCH (simad %d)" % row["tokens"]))
        results.append({"mode": row["mode"], "simad_mb_per_s": row["mb_per_s"], "jieba_mb_per_s": py_mbps,
                        "ratio": ratio, "tokens_jieba": py_tokens, "tokens_simad": row["tokens"]})
        sys.stdout.flush()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"corpus_bytes": len(data), "simad_load_seconds": simad["load_seconds"],
                       "jieba_load_seconds": jieba_load, "rows": results}, f, indent=2)
    if any(r["tokens_jieba"] != r["tokens_simad"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
