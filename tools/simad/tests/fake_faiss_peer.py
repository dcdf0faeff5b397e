#!/usr/bin/env python3
"""tools/simad/tests/fake_faiss_peer.py: stands in for the Python of the PyPI FAISS peer in the CLI
tests of `simad bench search` (cli_bench_search.cmake), so that simad's side of the protocol of
benchmarks/faiss_peer.py (starting the child, sending the data, parsing replies, interleaving,
reporting a broken peer) runs in CI without faiss, numpy or a network. Python's standard library only.

simad runs it as `fake_faiss_peer.py -c <script>`; it ignores the script and answers as the real peer
would, with made-up results: distances 1.0, ids 0 .. K-1, and 2 ms per search (so the rows read
500000 q/s at nq=1000 and 500 q/s at nq=1).
Environment:
  SIMAD_FAKE_PEER_LOG   file that receives each command line (payloads left out)
  SIMAD_FAKE_PEER_MODE  ok (default) | exit-on-run (exits at the first 'run') | bad-time (a malformed 'time' reply)
"""
import array
import math
import os
import sys

SECONDS_PER_SEARCH = 0.002


def main():
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    mode = os.environ.get("SIMAD_FAKE_PEER_MODE", "ok")
    log_path = os.environ.get("SIMAD_FAKE_PEER_LOG")
    log = open(log_path, "w") if log_path else None

    def reply(line, *payloads):
        out.write((line + "\n").encode())
        for p in payloads:
            out.write(p.tobytes())
        out.flush()

    reply("facts fake-faiss 0.0 (tools/simad/tests/fake_faiss_peer.py), SIMD level NONE")
    for raw in inp:
        words = raw.decode().split()
        if log:
            log.write(" ".join(words) + "\n")
            log.flush()
        cmd, args = words[0], words[1:]
        if cmd == "threads":
            reply("ok " + args[0])
        elif cmd in ("queries", "base"):
            rows, d = int(args[0]), int(args[1])
            if len(inp.read(rows * d * 4)) != rows * d * 4:
                return 1
            reply("ok %d" % rows)
        elif cmd == "results":
            nq, k, singles = (int(a) for a in args[:3])
            m = nq * singles * k
            reply("results %d" % m, array.array("f", [1.0] * m), array.array("q", list(range(k)) * (nq * singles)))
        elif cmd == "run":
            if mode == "exit-on-run":
                return 1
            if mode == "bad-time":
                reply("time soon")
                continue
            nq, k, singles = (int(a) for a in args[:3])
            per_round = SECONDS_PER_SEARCH * singles
            rounds = max(1, math.ceil(float(args[3]) / per_round))
            reply("time %.9g %d" % (rounds * per_round, rounds))
        elif cmd == "quit":
            return 0
        else:
            reply("error unknown command '%s'" % cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
