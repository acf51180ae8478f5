#!/usr/bin/env python3
"""Writes a synthetic folded-stack file for benchmarks: a skewed random call tree,
N unique stacks (root first, sorted like stackcollapse output), about B bytes a line.

usage: gen-folded.py OUT [--stacks 100000] [--seed 1]
"""
import argparse
import random

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--stacks", type=int, default=100_000)
parser.add_argument("--seed", type=int, default=1)
args = parser.parse_args()

rng = random.Random(args.seed)
namespaces = ["std", "app", "net", "db", "io", "core", "util", "render", "json", "http"]
classes = ["Server", "Request", "Parser", "Buffer", "Cache", "Pool", "Session", "Index", "Writer", "Loop"]
verbs = ["handle", "read", "write", "parse", "flush", "lookup", "insert", "encode", "decode", "run"]


def function_name(key):
    # The same call-tree position always has the same name; names come from a pool of
    # about 40,000 functions, so functions recur across stacks as in real programs.
    key = key % 40009
    kind = (key * 7919) % 100
    if kind < 4:
        return f"{verbs[key % 10]}_{key // 10}_[k]"
    if kind < 6:
        return f"libc.so.6+0x{key * 40:x}"
    return f"{namespaces[key % 10]}::{classes[(key // 10) % 10]}::{verbs[(key // 100) % 10]}_{key // 1000}_{key % 97}"


seen = set()
lines = []
while len(lines) < args.stacks:
    depth = rng.randint(6, 18)
    key = 0
    frames = ["app_main"]
    for level in range(depth):
        child = min(int(rng.expovariate(0.45)), 40)
        key = (key * 0x9E3779B1 + child + 1) % 4294967291
        frames.append(function_name(key))
    stack = ";".join(frames)
    if stack in seen:
        continue
    seen.add(stack)
    lines.append(f"{stack} {max(1, int(rng.paretovariate(1.2)))}\n")
lines.sort()
with open(args.out, "w") as out:
    out.writelines(lines)
