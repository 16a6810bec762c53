# rotor's Python test harness (written into the sandbox as test_main.py).
#
# Reads spec.json ({"entry_point": str, "tests": [str]}) and solution.py from
# the working directory, compiles the solution, runs it with
# __name__ == "solution" (so `if __name__ == "__main__":` demos stay quiet),
# then runs each test statement in the solution's namespace, stopping at the
# first failure. The outcome goes to result.json as one JSON object:
#   {"verdict": "passed|tests_failed|syntax_error|crashed",
#    "detail": str, "index": int|null, "total": int, "test": str|null}
# and the process leaves with os._exit(0) so the answer's threads and atexit
# hooks cannot hold it up. Processes forked by the answer never report.
import json
import os
import traceback

_MAIN = os.getpid()
_OUT = open("result.json", "w", encoding="utf-8")


def _report(verdict, detail, index=None, test=None, total=0):
    if os.getpid() != _MAIN:
        os._exit(0)
    _OUT.write(json.dumps({"verdict": verdict, "detail": detail[:1000],
                           "index": index, "total": total, "test": test}))
    _OUT.flush()
    _OUT.close()
    os._exit(0)


def _describe(exc):
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return (type(exc).__name__ + ": " + first) if first else type(exc).__name__


def _solution_line(exc):
    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except BaseException:
        return None
    lines = [f.lineno for f in frames if f.filename == "solution.py"]
    return lines[-1] if lines else None


with open("spec.json", encoding="utf-8") as _f:
    _SPEC = json.load(_f)
_ENTRY = _SPEC["entry_point"]
_TESTS = _SPEC["tests"]
_TOTAL = len(_TESTS)

try:
    with open("solution.py", encoding="utf-8") as _f:
        _SRC = _f.read()
    _CODE = compile(_SRC, "solution.py", "exec")
except SyntaxError as e:
    _text = (e.text or "").strip()
    _detail = "line %s: %s" % (e.lineno, e.msg)
    if _text:
        _detail += " | " + _text
    _report("syntax_error", _detail, total=_TOTAL)
except (ValueError, UnicodeDecodeError) as e:
    _report("syntax_error", _describe(e), total=_TOTAL)

_NS = {"__name__": "solution", "__builtins__": __builtins__}
try:
    exec(_CODE, _NS)
except MemoryError:
    _report("crashed", "memory limit", total=_TOTAL)
except SystemExit as e:
    _report("crashed", "the answer called exit(%r) while loading" % (e.code,), total=_TOTAL)
except BaseException as e:
    _line = _solution_line(e)
    _where = (" at line %d" % _line) if _line else ""
    _report("crashed", "error while loading%s: %s" % (_where, _describe(e)), total=_TOTAL)

if os.getpid() != _MAIN:
    os._exit(0)
if _ENTRY not in _NS:
    _report("tests_failed", "the answer does not define %s" % _ENTRY, total=_TOTAL)

for _i, _t in enumerate(_TESTS):
    try:
        exec(compile(_t, "<test %d>" % (_i + 1), "exec"), _NS)
    except MemoryError:
        _report("crashed", "memory limit", index=_i, test=_t, total=_TOTAL)
    except SystemExit as e:
        _report("crashed", "the answer called exit(%r) during a test" % (e.code,),
                index=_i, test=_t, total=_TOTAL)
    except AssertionError as e:
        _msg = str(e).strip()
        _report("tests_failed", _msg, index=_i, test=_t, total=_TOTAL)
    except BaseException as e:
        _report("tests_failed", _describe(e), index=_i, test=_t, total=_TOTAL)
    if os.getpid() != _MAIN:
        os._exit(0)

_report("passed", "", total=_TOTAL)
