"""Prints facts about code objects for ember's tests, as CPython itself gives them.

`lines`: for every code object compiled from the given source files or modules (nested ones
too), one JSON line {"linetable", "firstlineno", "lines": co_lines()}: the table is
co_linetable (co_lnotab before 3.10), the lines (start, end, line) ranges of byte offsets
(before 3.10, made from dis.findlinestarts, as co_lines() has them since).
`live N`: makes N functions f0..fN-1, prints one JSON line of their code objects'
addresses (id) with names, then "ready", and sleeps until killed."""
import dis
import importlib.util
import json
import sys
import time


def code_objects(code):
    yield code
    for constant in code.co_consts:
        if hasattr(constant, "co_code"):
            for nested in code_objects(constant):
                yield nested


def qualified_name(code):
    return getattr(code, "co_qualname", code.co_name)


def line_ranges(code):
    if hasattr(code, "co_lines"):
        return list(code.co_lines())
    starts = list(dis.findlinestarts(code))
    ends = [start for start, _ in starts[1:]] + [len(code.co_code)]
    return [(start, end, line) for (start, line), end in zip(starts, ends)]


def main():
    if sys.argv[1] == "lines":
        for name in sys.argv[2:]:
            path = name if name.endswith(".py") else importlib.util.find_spec(name).origin
            with open(path) as source:
                top = compile(source.read(), path, "exec")
            for code in code_objects(top):
                table = code.co_linetable if hasattr(code, "co_linetable") else code.co_lnotab
                print(json.dumps({"name": qualified_name(code), "linetable": table.hex(),
                                  "firstlineno": code.co_firstlineno, "lines": line_ranges(code)}))
    else:
        count = int(sys.argv[2])
        functions = []
        for n in range(count):
            namespace = {}
            exec("def f%d():\n    return %d\n" % (n, n), namespace)
            functions.append(namespace["f%d" % n])
        print(json.dumps({qualified_name(f.__code__): id(f.__code__) for f in functions}))
        print("ready")
        sys.stdout.flush()
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
