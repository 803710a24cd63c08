"""Generate the student notebooks exercises/NN_topic.ipynb from solutions/NN_topic.ipynb.

In a solutions notebook, each answer sits inside a function body between two marker lines:

    ### BEGIN SOLUTION
    ...the answer...
    ### END SOLUTION

The exercise copy replaces each such region (markers included) with

    # YOUR CODE HERE
    raise NotImplementedError()

at the indentation of the BEGIN marker, and clears all outputs. Everything else is copied unchanged.

    python tools/make_exercises.py          # (re)write exercises/
    python tools/make_exercises.py --check  # exit 1 if exercises/ is not what this would write
"""

import argparse
import copy
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = ("# YOUR CODE HERE", "raise NotImplementedError()")


class MarkerError(ValueError):
    """A BEGIN/END SOLUTION pair is missing, nested or misplaced."""


def strip_solutions(source, where="cell"):
    """Return ``source`` with every solution region replaced by the stub, and the number replaced."""
    out, inside, count = [], False, 0
    for number, line in enumerate(source.split("\n"), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise MarkerError(f"{where}, line {number}: {BEGIN} inside another solution region")
            inside, count = True, count + 1
            indent = line[: len(line) - len(line.lstrip())]
            out.extend(indent + stub for stub in STUB)
        elif marker == END:
            if not inside:
                raise MarkerError(f"{where}, line {number}: {END} without a {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise MarkerError(f"{where}: {BEGIN} is never closed by {END}")
    return "\n".join(out), count


def make_exercise(solution, name="notebook"):
    """The exercise notebook for a solutions notebook (a new object; the input is not modified)."""
    nb = copy.deepcopy(solution)
    total = 0
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index}"
        if cell.cell_type == "code":
            cell.source, count = strip_solutions(cell.source, where)
            total += count
            cell.outputs, cell.execution_count = [], None
        elif BEGIN in cell.source or END in cell.source:
            raise MarkerError(f"{where}: solution markers belong in code cells only")
    if total == 0:
        raise MarkerError(f"{name}: no {BEGIN} region found; a solutions notebook needs at least one")
    return nb


def render(solution_path):
    nb = nbformat.read(solution_path, as_version=4)
    return nbformat.writes(make_exercise(nb, solution_path.name)) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if exercises/ is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    solutions, exercises = args.root / "solutions", args.root / "exercises"
    sources = sorted(solutions.glob("*.ipynb"))
    if not sources:
        print(f"no notebooks in {solutions}", file=sys.stderr)
        return 1
    problems = []
    for path in sources:
        target = exercises / path.name
        try:
            text = render(path)
        except MarkerError as err:
            problems.append(str(err))
            continue
        if args.check:
            if not target.exists() or target.read_text() != text:
                problems.append(f"{target.relative_to(args.root)} is out of date")
        else:
            exercises.mkdir(exist_ok=True)
            if not target.exists() or target.read_text() != text:
                target.write_text(text)
                print(f"wrote {target.relative_to(args.root)}")
    expected = {p.name for p in sources}
    for stale in sorted(exercises.glob("*.ipynb")):
        if stale.name not in expected:
            problems.append(f"{stale.relative_to(args.root)} has no solutions/{stale.name}")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems and args.check:
        print("Run `make exercises` (python tools/make_exercises.py) to regenerate exercises/.", file=sys.stderr)
    if not problems and args.check:
        print(f"exercises/ is in sync with solutions/ ({len(sources)} notebooks)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
