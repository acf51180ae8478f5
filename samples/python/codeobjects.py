"""Prints facts about code objects for ember's tests, as CPython itself gives them.

`lines`: for every code object compiled from the given source files or modules (nested ones
too), one JSON line {"linetable", "firstlineno", "lines": co_lines()}.
`live N`: makes N functions f0..fN-1, prints one JSON line of their code objects'
addresses (id) with names, then "ready", and sleeps until killed."""
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


def main():
    if sys.argv[1] == "lines":
        for name in sys.argv[2:]:
            path = name if name.endswith(".py") else importlib.util.find_spec(name).origin
            with open(path) as source:
                top = compile(source.read(), path, "exec")
            for code in code_objects(top):
                print(json.dumps({"name": code.co_qualname, "linetable": code.co_linetable.hex(),
                                  "firstlineno": code.co_firstlineno, "lines": list(code.co_lines())}))
    else:
        count = int(sys.argv[2])
        functions = []
        for n in range(count):
            namespace = {}
            exec("def f%d():\n    return %d\n" % (n, n), namespace)
            functions.append(namespace["f%d" % n])
        print(json.dumps({f.__code__.co_qualname: id(f.__code__) for f in functions}))
        print("ready")
        sys.stdout.flush()
        while True:
            time.sleep(1)


if __name__ == "__main__":
    main()
