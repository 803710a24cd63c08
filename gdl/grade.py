"""Grade exercise notebooks: a fresh process for each notebook, the course's own checks, points per exercise.

For instructors::

    python -m gdl.grade submissions/*.ipynb --csv gradebook.csv   # a table per notebook, one gradebook
    python -m gdl.grade submission.ipynb --json results.json       # Gradescope's results.json

For learners, the last cell of every exercise notebook shows their standing, computed by ``score``, the
function the grader uses::

    grade.standing(ch03, globals())   # "4 of 6 exercises pass: 6 of 8 points"

How a notebook is graded (the file itself is only read):

1. it is read and validated (a file that is not JSON or not a notebook gets a line saying so, and 0 points);
   its chapter is the ``gdl.checks.chNN`` module it imports;
2. a fresh Python process, the *worker*, imports that chapter's checks **before** any of the notebook's code
   runs, then removes them from ``sys.modules``: the notebook's own ``import`` loads separate copies, so
   whatever it does to ``gdl.checks`` (replacing a check, patching ``evaluate``, setting
   ``GDL_CHECKS_MODE``) changes only its copies;
3. the worker runs the notebook's code cells in order (in the smoke profile, on the digits the packages ship,
   ``GDL_DATA=bundled``, unless the environment says otherwise) (not the one-line check cells: the grader checks),
   each under a time limit; its output is discarded; the parent stops it above a memory ceiling;
4. it then evaluates the functions the notebook *ends with*, with the pristine checks. A function that reads
   the checks' own code (their reference implementations) is flagged and scores 0;
5. the verdicts come back over a pipe of the worker's own: what the notebook printed is never read.

A cell that runs past its time, ends the process (``sys.exit``, ``os._exit``, a crash) or exceeds the memory
ceiling is reported, and the worker is started again without that cell, so the other exercises are still
graded. The grader runs the learner's code: for submissions you do not trust, run it in a container.
"""

import argparse
import ast
import csv
import inspect
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from pathlib import Path

import numpy as np

from gdl import checks

CHAPTER_RE = re.compile(r"\bgdl\.checks\.(ch\d\d)\b|\bfrom\s+gdl\.checks\s+import\s+(ch\d\d)\b")
# What a notebook needs to reach the grader's own objects in the worker (its frames, the garbage collector's
# lists): such a submission is graded, and flagged for a person to read.
INTROSPECTION_RE = re.compile(r"_getframe|currentframe|\bf_back\b|\bf_globals\b|\bf_locals\b|get_referrers|"
                              r"get_objects|inspect\.stack|\btb_frame\b")
GRADER_VAR = "GDL_GRADER"  # set in the worker: the standing cell then leaves the grading to the grader


# --------------------------------------------------------------------------- scoring (grader and standing cell)


def exercises(module):
    """The exercises of a chapter's check module: ``[(number, check), ...]`` in the order they are defined.

    ``number`` is "3.1", "3.2", ... for ``gdl.checks.ch03``; ``check.exercise`` is the function's name and
    ``check.points`` what it is worth.
    """
    chapter = int(module.__name__.rsplit("ch", 1)[-1])
    found = [v for v in vars(module).values() if callable(v) and hasattr(v, "exercise") and hasattr(v, "points")]
    return [(f"{chapter}.{i}", check) for i, check in enumerate(found, start=1)]


def _is_checks_object(value):
    if isinstance(value, types.ModuleType):
        return value.__name__.split(".")[:2] == ["gdl", "checks"]
    module = getattr(value, "__module__", None)
    return isinstance(module, str) and module.split(".")[:2] == ["gdl", "checks"]


def _code_objects(code):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def reads_checks(fn, _seen=None):
    """The ``gdl.checks`` names that ``fn``, or a function of the notebook it calls, reads; empty if none.

    An exercise answer must be the learner's own: one that calls a check's reference implementation
    (``ch03._kl``) would pass every check. Read through the function's code, its closure and defaults.
    """
    seen = set() if _seen is None else _seen
    fn = getattr(fn, "python_function", fn)  # a tf.function
    fn = inspect.unwrap(fn)
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen:
        return set()
    seen.add(id(fn))
    scope = getattr(fn, "__globals__", {})
    values, found = [], set()
    for c in _code_objects(code):
        for name in c.co_names:
            if name.startswith("gdl.checks"):
                found.add(name)
            elif name in scope:
                values.append((name, scope[name]))
    for cell in fn.__closure__ or ():
        try:
            values.append((cell.cell_contents.__class__.__name__, cell.cell_contents))
        except ValueError:  # an empty cell
            pass
    values += [(repr(v), v) for v in (fn.__defaults__ or ())]
    values += list((fn.__kwdefaults__ or {}).items())
    for name, value in values:
        if _is_checks_object(value):
            found.add(getattr(value, "__name__", name))
        elif inspect.isfunction(value) and value.__globals__ is scope:
            found |= reads_checks(value, seen)
    return found


def _row(number, check, status, message, points=None):
    if points is None:
        points = check.points if status == checks.PASSED else 0
    return {"number": number, "exercise": check.exercise, "points": points, "max_points": check.points,
            "status": status, "message": message}


def score_one(number, check, namespace, seed=None):
    """Grade one exercise: the function named ``check.exercise`` in ``namespace``, with ``check``.

    ``seed`` fixes the check's random problem (the grader derives one per exercise from its own seed).
    """
    fn = namespace.get(check.exercise)
    if fn is None:
        return _row(number, check, checks.FAILED, f"The notebook defines no `{check.exercise}` (was its cell "
                    "deleted or the function renamed?).")
    borrowed = reads_checks(fn) if callable(fn) else set()
    if borrowed:
        return _row(number, check, checks.FAILED, f"Flagged: `{check.exercise}` uses the checks' own code "
                    f"({', '.join(sorted(borrowed))}); an answer must be your own. 0 points.")
    result = check.evaluate(fn, seed=seed)
    return _row(number, check, result.status, result.message)


def score(module, namespace):
    """Grade every exercise of ``module`` against the functions in ``namespace``: a list of rows (dicts)."""
    return [score_one(number, check, namespace) for number, check in exercises(module)]


def summary(rows):
    """ "4 of 6 exercises pass: 6 of 8 points" """
    passed = sum(r["status"] == checks.PASSED for r in rows)
    got, total = sum(r["points"] for r in rows), sum(r["max_points"] for r in rows)
    return f"{passed} of {len(rows)} exercises pass: {got} of {total} points"


class Standing:
    """A learner's rows, shown as a table (HTML in a notebook, text elsewhere)."""

    _ICON = {checks.PASSED: "\u2705", checks.INCOMPLETE: "\u23f3", checks.FAILED: "\u274c"}

    def __init__(self, rows):
        self.rows = rows

    def __str__(self):
        lines = [summary(self.rows)]
        for r in self.rows:
            lines.append(f"  {self._ICON[r['status']]} {r['number']} {r['exercise']}: {r['points']}/"
                         f"{r['max_points']} ({r['status']}) {r['message']}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self):
        import html

        body = "".join(
            f"<tr><td>{self._ICON[r['status']]}</td><td>{r['number']}</td><td><code>{html.escape(r['exercise'])}"
            f"</code></td><td>{r['points']} / {r['max_points']}</td><td>{html.escape(r['message'])}</td></tr>"
            for r in self.rows)
        return (f"<div class='gdl-standing'><b>{html.escape(summary(self.rows))}</b><table>"
                f"<tr><th></th><th>exercise</th><th></th><th>points</th><th>message</th></tr>{body}</table></div>")


def standing(module, namespace):
    """Show the learner's standing on the exercises of ``module``, graded as ``python -m gdl.grade`` does.

    In the test modes (``GDL_CHECKS_MODE``) it raises unless every exercise passes (``solutions``) or every
    one is "not yet complete" (``exercises``). Under the grader it only says that the grader grades.
    """
    if os.environ.get(GRADER_VAR):
        print("Graded by the grader (python -m gdl.grade), with its own copy of the checks.")
        return
    rows = score(module, namespace)
    checks.show(Standing(rows))
    expected = {"solutions": checks.PASSED, "exercises": checks.INCOMPLETE}.get(checks.mode())
    wrong = [r for r in rows if expected and r["status"] != expected]
    if wrong:
        first = wrong[0]
        raise checks.CheckModeError(f"{checks.MODE_VAR}={checks.mode()} expects every exercise '{expected}'; "
                                    f"{first['number']} is {first['status']}: {first['message']}")


# --------------------------------------------------------------------------- reading a submission


class Unusable(Exception):
    """A submission that cannot be graded; the message says why, in one line."""


def read_submission(path):
    """The code cells of the notebook at ``path`` and the chapter whose checks it imports: (sources, "03")."""
    import nbformat

    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise Unusable("is not a notebook (not a text file)") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise Unusable(f"is not a notebook: not valid JSON ({err.msg}, line {err.lineno})") from None
    try:
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
    except Exception as err:
        what = "a JSON object" if isinstance(raw, dict) else f"JSON of type {type(raw).__name__}"
        raise Unusable(f"is not a Jupyter notebook ({what} that fails the notebook format: "
                       f"{checks._short(err, 120)})") from None
    sources = [c.source for c in nb.cells if c.cell_type == "code"]
    found = [a or b for s in sources for a, b in CHAPTER_RE.findall(s)]
    if not found:
        raise Unusable("is not an exercise notebook of this course: it never imports gdl.checks.chNN")
    return sources, max(set(found), key=found.count)


def check_calls(source, module_name):
    """The exercises a cell checks, if it only calls checks (``ch03.check_x(x)``, one a line); else None."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names = []
    for statement in tree.body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                and isinstance(call.func.value, ast.Name) and call.func.value.id == module_name
                and call.func.attr.startswith("check_") and all(isinstance(a, ast.Name) for a in call.args)
                and not call.keywords):
            return None
        names.append(call.func.attr[len("check_"):])
    return names or None


def is_check_cell(source, module_name):
    """True for a cell that only calls checks: the grader checks, so it does not run such a cell."""
    return check_calls(source, module_name) is not None


# --------------------------------------------------------------------------- the worker (a process of its own)


class CellTimeout(BaseException):  # noqa: N818 (not an error of the grader's; BaseException so `except Exception` can't eat it)
    """A cell or a check ran past its time."""


class _Sink:
    """Where the notebook's printing goes: counted, then thrown away."""

    encoding, errors = "utf-8", "replace"

    def __init__(self):
        self.count = 0

    def write(self, text):
        self.count += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False


class _Tripwire(types.ModuleType):
    """Stands in for the notebook's copy of a checks module while its answers are graded: any use is flagged."""

    def __init__(self, name, hits):
        super().__init__(name)
        object.__setattr__(self, "_hits", hits)

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        object.__getattribute__(self, "_hits").append(f"{self.__name__}.{attr}")
        raise AttributeError(f"the grader does not let an answer use {self.__name__}.{attr}")


def _alarm(seconds):
    def handler(signum, frame):
        raise CellTimeout()

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)


def _worker(fd):
    """Run one job from standard input and send events, one JSON line each, to file descriptor ``fd``."""
    job = json.loads(sys.stdin.read())
    out = os.fdopen(fd, "w", buffering=1)

    def send(**event):
        out.write(json.dumps(event) + "\n")

    import importlib

    pristine = importlib.import_module(f"gdl.checks.{job['chapter']}")
    ordered = exercises(pristine)
    for name in [n for n in sys.modules if n == "gdl.checks" or n.startswith("gdl.checks.")]:
        del sys.modules[name]
    import gdl

    if hasattr(gdl, "checks"):
        delattr(gdl, "checks")
    os.environ.pop(checks.MODE_VAR, None)

    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    sink = _Sink()
    sys.stdout = sys.stderr = sink
    for index, source in enumerate(job["cells"]):
        if index in job["skip_cells"]:
            continue
        send(event="cell", index=index)
        _alarm(job["cell_timeout"])
        try:
            result = shell.run_cell(source, store_history=False)
        except CellTimeout:
            result = None
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        error = None if result is None else (result.error_before_exec or result.error_in_exec)
        if result is None or isinstance(error, CellTimeout):
            send(event="timeout", index=index)
        else:
            message = None if error is None else f"{type(error).__name__}: {checks._short(error, 150)}"
            send(event="ran", index=index, error=message)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__

    namespace, hits = dict(shell.user_ns), []
    copies = [n for n in sys.modules if n == "gdl.checks" or n.startswith("gdl.checks.")]
    for name in copies:
        sys.modules[name] = _Tripwire(name, hits)
    if "checks" in vars(gdl):
        gdl.checks = _Tripwire("gdl.checks", hits)
    for key, value in list(shell.user_ns.items()):
        if _is_checks_object(value) and isinstance(value, types.ModuleType):
            shell.user_ns[key] = namespace[key] = _Tripwire(value.__name__, hits)
    sys.stdout = sys.stderr = sink
    for number, check in ordered:
        if check.exercise in job["skip_exercises"]:
            continue
        send(event="exercise", name=check.exercise)
        del hits[:]
        _alarm(job["exercise_timeout"])
        seed = int(np.random.SeedSequence([job["seed"], int(number.split(".")[1])]).generate_state(1)[0])
        try:
            row = score_one(number, check, namespace, seed)
        except CellTimeout:
            row = _row(number, check, checks.FAILED, f"Its check ran past {job['exercise_timeout']:g} s and was "
                       "stopped (an endless loop, or far too slow?).")
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        if hits:
            row = _row(number, check, checks.FAILED, f"Flagged: `{check.exercise}` uses the checks' own code "
                       f"({', '.join(sorted(set(hits)))}); an answer must be your own. 0 points.")
        send(event="row", row=row)
    send(event="done", printed=sink.count)
    out.close()
    os._exit(0)  # no atexit handlers of the notebook's


# --------------------------------------------------------------------------- the parent: one notebook


def _rss_mb(pid):
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


def _run_worker(job, env, cwd, memory_mb):
    """One worker run: (events, how it ended, peak memory in MB); how it ended is None after "done", else why."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "gdl.grade", "--worker", str(write_fd)], stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, pass_fds=(write_fd,), env=env,
                            cwd=cwd, start_new_session=True)
    os.close(write_fd)
    tail = bytearray()

    def drain():  # keep the last few kilobytes of what the worker wrote to its stderr
        for chunk in iter(lambda: proc.stderr.read1(65536), b""):
            tail.extend(chunk)
            del tail[:-4096]

    threading.Thread(target=drain, daemon=True).start()
    proc.stdin.write(json.dumps(job).encode())
    proc.stdin.close()
    events, buffer, ended, peak = [], b"", None, 0.0
    limit = job["cell_timeout"]
    started = time.monotonic()
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ)
    try:
        while True:
            if selector.select(timeout=0.1):
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    events.append(event)
                    if event["event"] in ("cell", "exercise"):
                        started = time.monotonic()
                        limit = job["cell_timeout" if event["event"] == "cell" else "exercise_timeout"]
            if time.monotonic() - started > 1.1 * limit + 5:  # the worker's own alarm did not stop it
                ended = f"ran past {limit:g} s and did not stop when told to"
                break
            rss = _rss_mb(proc.pid)
            peak = max(peak, rss)
            if rss > memory_mb:
                ended = f"used more than {memory_mb:g} MB of memory"
                break
    finally:
        selector.close()
        os.close(read_fd)
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        code = proc.wait()
    if ended is None and not (events and events[-1]["event"] == "done"):
        text = tail.decode("utf-8", "replace").strip().splitlines()
        last = f" ({checks._short(text[-1], 150)})" if text else ""
        ended = f"ended the process (exit code {code}){last}"
    return events, ended, peak


def grade_notebook(path, chapter=None, profile="smoke", cell_timeout=120.0, exercise_timeout=120.0,
                   memory_mb=4096.0, seed=0):
    """Grade one submission; returns a report: dict(submission, chapter, rows, notes, seconds, error, peak_mb).

    ``chapter`` ("ch03"), when given, is the chapter the submission must belong to; ``seed`` fixes the checks'
    random problems (each exercise's own seed is derived from it), so that grading again gives the same grade.
    ``error`` is set (and every exercise scores 0) when the notebook cannot be graded at all.
    """
    start = time.monotonic()
    report = {"submission": str(path), "chapter": chapter, "rows": [], "notes": [], "seconds": 0.0, "error": None,
              "peak_mb": 0.0, "seed": int(seed)}
    try:
        sources, found = read_submission(path)
        if chapter is not None and found != chapter:
            raise Unusable(f"is Chapter {int(found[2:])}'s exercise notebook, not Chapter {int(chapter[2:])}'s")
    except Unusable as err:
        report["error"] = str(err)
        if chapter is not None:
            module = __import__(f"gdl.checks.{chapter}", fromlist=["_"])
            report["rows"] = [_row(n, c, checks.FAILED, "Not graded: the submission " + str(err) + ".")
                              for n, c in exercises(module)]
        report["seconds"] = time.monotonic() - start
        return report
    report["chapter"] = found
    peeks = sorted({m.group(0) for s in sources for m in INTROSPECTION_RE.finditer(s)})
    if peeks:
        report["notes"].append(f"review by hand: the notebook uses {', '.join(peeks)}, with which code can reach the "
                               "grader's own objects")
    module = __import__(f"gdl.checks.{found}", fromlist=["_"])
    runnable = [i for i, s in enumerate(sources) if not is_check_cell(s, found)]
    env = {k: v for k, v in os.environ.items() if k != checks.MODE_VAR}
    env.setdefault("GDL_DATA", "bundled")  # the same data on every grading machine, with no download
    package_root = str(Path(__file__).resolve().parent.parent)
    env.update({"GDL_PROFILE": profile, GRADER_VAR: "1", "MPLBACKEND": "Agg", "KERAS_BACKEND": "tensorflow",
                "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.pathsep.join(
                    [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])})
    job = {"chapter": found, "cells": [sources[i] if i in runnable else "" for i in range(len(sources))],
           "skip_cells": [i for i in range(len(sources)) if i not in runnable], "skip_exercises": [],
           "cell_timeout": cell_timeout, "exercise_timeout": exercise_timeout, "seed": int(seed)}
    rows, errors = {}, []
    with tempfile.TemporaryDirectory(prefix="gdl-grade-") as cwd:
        for _ in range(len(sources) + len(exercises(module)) + 1):
            events, ended, peak = _run_worker(job, env, cwd, memory_mb)
            report["peak_mb"] = max(report["peak_mb"], peak)
            current = None
            for event in events:
                kind = event["event"]
                if kind in ("cell", "exercise"):
                    current = event
                elif kind == "timeout":
                    report["notes"].append(f"code cell {event['index'] + 1} ran past {cell_timeout:g} s and "
                                           "was stopped")
                    job["skip_cells"].append(event["index"])
                elif kind == "ran" and event["error"]:
                    errors.append((event["index"], event["error"]))
                elif kind == "row":
                    rows[event["row"]["exercise"]] = event["row"]
                    job["skip_exercises"].append(event["row"]["exercise"])
                    current = None
            if ended is None:
                break
            if current is None:  # the worker died outside any cell: nothing left to try
                report["error"] = f"the grader's worker {ended}"
                break
            if current["event"] == "cell":
                report["notes"].append(f"code cell {current['index'] + 1} {ended}; it was skipped and the "
                                       "notebook run again without it")
                job["skip_cells"].append(current["index"])
            else:
                number, check = next((n, c) for n, c in exercises(module) if c.exercise == current["name"])
                rows[check.exercise] = _row(number, check, checks.FAILED, f"While its check ran, the process "
                                            f"{ended}. 0 points.")
                job["skip_exercises"].append(check.exercise)
            errors = []  # the notebook runs again: keep the errors of the last run only
    seen = set()
    for index, error in errors:
        if index not in seen:
            seen.add(index)
            report["notes"].append(f"code cell {index + 1} raised {error}")
    report["rows"] = [rows.get(c.exercise) or _row(n, c, checks.FAILED, "Not graded: " + (report["error"] or
                      "the notebook never reached the grading")) for n, c in exercises(module)]
    report["seconds"] = time.monotonic() - start
    return report


# --------------------------------------------------------------------------- output: table, Gradescope, gradebook


def total(report):
    return sum(r["points"] for r in report["rows"]), sum(r["max_points"] for r in report["rows"])


def render(report):
    """The table printed for one notebook."""
    name = Path(report["submission"]).name
    if not report["rows"]:
        return f"{name}: 0 points: {report['error']}."
    got, out_of = total(report)
    chapter = f"Chapter {int(report['chapter'][2:])}" if report["chapter"] else "?"
    lines = [f"{name} ({chapter}): {summary(report['rows'])}, graded in {report['seconds']:.0f} s"
             f" (peak memory {report['peak_mb']:.0f} MB)"]
    if report["error"]:
        lines.append(f"  the submission {report['error']}")
    width = max(len(f"{r['number']} {r['exercise']}") for r in report["rows"])
    for r in report["rows"]:
        label = f"{r['number']} {r['exercise']}"
        lines.append(f"  {label:<{width}}  {r['points']:>2}/{r['max_points']:<2} {r['status']:<16} {r['message']}")
    lines += [f"  note: {n}" for n in report["notes"]]
    return "\n".join(lines)


def gradescope(report):
    """Gradescope's results.json for one submission."""
    got, out_of = total(report)
    tests = [{"name": f"Exercise {r['number']}: {r['exercise']}", "score": r["points"], "max_score": r["max_points"],
              "status": "passed" if r["status"] == checks.PASSED else "failed", "output": r["message"]}
             for r in report["rows"]]
    output = "; ".join(([f"The submission {report['error']}."] if report["error"] else []) + report["notes"]
                       + [f"graded with seed {report['seed']}"])
    return {"score": got, "max_score": out_of, "output": output, "tests": tests}


def write_gradebook(reports, file):
    """One row per submission, a column per exercise (of every chapter graded), then the total and the maximum."""
    chapters = sorted({r["chapter"] for r in reports if r["chapter"]})
    modules = [__import__(f"gdl.checks.{c}", fromlist=["_"]) for c in chapters]
    columns = [f"{n} {c.exercise}" for m in modules for n, c in exercises(m)]
    writer = csv.writer(file)
    writer.writerow(["submission", "chapter", *columns, "total", "max", "note"])
    for report in reports:
        points = {f"{r['number']} {r['exercise']}": r["points"] for r in report["rows"]}
        note = "; ".join(([report["error"]] if report["error"] else []) + report["notes"])
        got, out_of = total(report)
        chapter = int(report["chapter"][2:]) if report["chapter"] else ""
        writer.writerow([Path(report["submission"]).name, chapter, *(points.get(c, "") for c in columns), got,
                         out_of, note])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m gdl.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="the submitted exercise notebooks")
    parser.add_argument("--chapter", type=int, help="the chapter they must be (a notebook of another scores 0)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write Gradescope's results.json (one notebook)")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write a gradebook: a row per notebook")
    parser.add_argument("--profile", default="smoke", choices=("smoke", "cpu", "gpu"), help="default: smoke")
    parser.add_argument("--cell-timeout", type=float, default=120.0, metavar="S", help="seconds per cell (120)")
    parser.add_argument("--check-timeout", type=float, default=120.0, metavar="S", help="seconds per check (120)")
    parser.add_argument("--memory-mb", type=float, default=4096.0, metavar="MB", help="memory ceiling (4096)")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the checks' random problems (default: a fresh "
                        "one, printed; the same seed grades the same way again)")
    if argv is None and len(sys.argv) == 3 and sys.argv[1] == "--worker":
        _worker(int(sys.argv[2]))
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.notebooks if not p.is_file()]
    if missing:
        parser.error(f"no such file: {', '.join(missing)}")
    if args.json and len(args.notebooks) != 1:
        parser.error("--json writes Gradescope's results.json for one submission; use --csv for several")
    if args.chapter is not None and not (Path(checks.__file__).parent / f"ch{args.chapter:02d}.py").exists():
        parser.error(f"there is no Chapter {args.chapter} with exercises")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        parser.error("--seed must lie in [0, 2**32)")
    chapter = None if args.chapter is None else f"ch{args.chapter:02d}"
    seed = int.from_bytes(os.urandom(4), "little") if args.seed is None else args.seed
    print(f"The checks' random problems come from seed {seed} (--seed {seed} grades the same way again).")
    reports = []
    for path in args.notebooks:
        report = grade_notebook(path, chapter, args.profile, args.cell_timeout, args.check_timeout, args.memory_mb,
                                seed)
        print(render(report), flush=True)
        reports.append(report)
    if args.json:
        args.json.write_text(json.dumps(gradescope(reports[0]), indent=2) + "\n")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            write_gradebook(reports, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
