#!/usr/bin/python3
"""The oracle of tests/text/test_segment.cpp: Python jieba (Debian python3-jieba) on a corpus.

  jieba_oracle.py CORPUS          one JSON line per input line: [jieba.lcut(line, HMM=False), jieba.lcut(line)]
  jieba_oracle.py --jsonl FILE    the same for texts given as one JSON string per line (texts that
                                  hold "\\n", "\\r\\n" or NUL)

Lines are the corpus bytes split on b"\\n" only (a line may contain "\\r", U+2028, ...), decoded as
UTF-8. JSON with ensure_ascii so the C++ side reads plain ASCII. Exits 3 when jieba is missing.
"""
import json
import logging
import sys

try:
    import jieba
except ImportError:
    print("jieba is not installed (apt-get install python3-jieba)", file=sys.stderr)
    sys.exit(3)


def main():
    jieba.setLogLevel(logging.WARNING)
    jsonl = sys.argv[1] == "--jsonl"
    data = open(sys.argv[-1], "rb").read()
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = sys.stdout
    for raw in lines:
        line = json.loads(raw) if jsonl else raw.decode("utf-8")
        out.write(json.dumps([jieba.lcut(line, HMM=False), jieba.lcut(line)]) + "\n")


if __name__ == "__main__":
    main()
