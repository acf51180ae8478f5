#!/usr/bin/env python3
"""Writes a synthetic folded-stack file for benchmarks: a skewed random call tree,
N unique stacks (root first, sorted like stackcollapse output), about B bytes a line.

usage: gen-folded.py OUT [--stacks 100000] [--seed 1]
       gen-folded.py OUT --like BEFORE [--change 0.1] [--churn 0.03] [--seed 2]

With --like, OUT is a realistic "after" profile of the same program as BEFORE, for
benchmarking `ember diff`: BEFORE's stacks, the counts of a fraction (--change) of them
scaled by 1/4 to 4 (changed by one sample at least), a fraction (--churn) of them dropped and as many new ones added (new
calls under existing callers), so the size stays about the same. Two files generated with
different seeds instead share little more than their roots: a worst case for a diff.
"""
import argparse
import random

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--stacks", type=int, default=100_000)
parser.add_argument("--seed", type=int, default=1)
parser.add_argument("--like", metavar="BEFORE", help="write an 'after' profile of BEFORE")
parser.add_argument("--change", type=float, default=0.1, help="with --like: share of stacks whose count changes")
parser.add_argument("--churn", type=float, default=0.03, help="with --like: share of stacks dropped, and added")
args = parser.parse_args()

rng = random.Random(args.seed)
namespaces = ["std", "app", "net", "db", "io", "core", "util", "render", "json", "http"]
classes = ["Server", "Request", "Parser", "Buffer", "Cache", "Pool", "Session", "Index", "Writer", "Loop"]
verbs = ["handle", "read", "write", "parse", "flush", "lookup", "insert", "encode", "decode", "run"]
FUNCTIONS = 40009


def function_name(key):
    # The same call-tree position always has the same name; names come from a pool of
    # about 40,000 functions, so functions recur across stacks as in real programs.
    key = key % FUNCTIONS
    kind = (key * 7919) % 100
    if kind < 4:
        return f"{verbs[key % 10]}_{key // 10}_[k]"
    if kind < 6:
        return f"libc.so.6+0x{key * 40:x}"
    return f"{namespaces[key % 10]}::{classes[(key // 10) % 10]}::{verbs[(key // 100) % 10]}_{key // 1000}_{key % 97}"


def random_count():
    return max(1, int(rng.paretovariate(1.2)))


def generated_stacks():
    seen = set()
    stacks = []
    while len(stacks) < args.stacks:
        depth = rng.randint(6, 18)
        key = 0
        frames = ["app_main"]
        for _ in range(depth):
            child = min(int(rng.expovariate(0.45)), 40)
            key = (key * 0x9E3779B1 + child + 1) % 4294967291
            frames.append(function_name(key))
        stack = ";".join(frames)
        if stack in seen:
            continue
        seen.add(stack)
        stacks.append((stack, random_count()))
    return stacks


def changed_stacks(before_path):
    with open(before_path) as before:
        stacks = [line.rstrip("\n").rsplit(" ", 1) for line in before if line.strip()]
    stacks = [(stack, int(count)) for stack, count in stacks]
    kept = []
    for stack, count in stacks:
        if rng.random() < args.churn:
            continue
        if rng.random() < args.change:
            scaled = max(1, round(count * 4 ** rng.uniform(-1, 1)))
            count = scaled if scaled != count else count + 1
        kept.append((stack, count))
    seen = {stack for stack, _ in kept}
    dropped = len(stacks) - len(kept)
    added = 0
    while added < dropped:
        # A new call path: an existing stack's callers, then new callees below them.
        frames = rng.choice(stacks)[0].split(";")
        frames = frames[: rng.randint(2, len(frames) - 1)]
        frames += [function_name(rng.randrange(FUNCTIONS)) for _ in range(rng.randint(1, 6))]
        stack = ";".join(frames)
        if stack in seen:
            continue
        seen.add(stack)
        kept.append((stack, random_count()))
        added += 1
    return kept


stacks = changed_stacks(args.like) if args.like else generated_stacks()
stacks.sort()
with open(args.out, "w") as out:
    out.writelines(f"{stack} {count}\n" for stack, count in stacks)
