"""tools/colab-stack.txt (Colab's versions, which `make test-colab` runs the notebooks on) and pyproject.toml agree."""

import re


def _name(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(root):
    lines = (root / "tools" / "colab-stack.txt").read_text().splitlines()
    requirements = [line for line in lines if line.strip() and not line.startswith("#")]
    pins = {}
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9_.-]*)==([0-9][0-9A-Za-z.+-]*)", line.strip())
        assert match, f"not an exact pin: {line!r}"
        pins[_name(match[1])] = match[2]
    assert len(pins) == len(requirements), "a package is pinned twice"
    return pins


def test_pyproject_lower_bounds_are_the_colab_versions(root):
    """Each lower bound is the version `make test-colab` passes with: no lower (untested), no higher (the
    notebooks' Colab cell would replace Colab's own package)."""
    pins = _pins(root)
    block = re.search(r"^dependencies = \[(.*?)^\]", (root / "pyproject.toml").read_text(), re.M | re.S)
    dependencies = re.findall(r'"([^"]+)"', block[1])
    assert dependencies
    for dependency in dependencies:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9][0-9.]*)", dependency)
        assert match, f"{dependency!r}: expected a lower bound only, name>=version"
        name, bound = _name(match[1]), match[2]
        assert name in pins, f"{name} is a dependency but tools/colab-stack.txt does not pin it"
        assert pins[name] == bound, f"{name}: pyproject.toml asks for >={bound}, Colab ships {pins[name]}"


def test_colab_stack_pins_what_the_course_imports(root):
    pins = _pins(root)
    for name in ["tensorflow", "keras", "numpy", "scipy", "matplotlib", "scikit-learn", "mlxtend", "ipywidgets",
                 "ipykernel", "ipython", "pytest", "nbval", "pytest-xdist"]:
        assert name in pins, name
