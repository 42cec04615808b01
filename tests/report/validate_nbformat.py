#!/usr/bin/python3
"""Validate executed notebooks with nbformat's own validator (Debian python3-nbformat).

usage: tests/report/validate_nbformat.py [NOTEBOOK.ipynb | DIRECTORY]...
       (default: site/notebooks)

Exits 0 if every notebook is valid nbformat 4.5 with an id on every cell,
1 if any is not (each problem is printed, naming the notebook), 2 if
nbformat is missing or nothing was given to check.
"""
import glob
import os
import sys

if "nbformat" not in sys.modules:
    try:
        import nbformat  # noqa: F401
    except ImportError:
        # A pyenv/venv python3 first on PATH lacks Debian's packages: retry with the system one.
        if sys.executable != "/usr/bin/python3" and os.path.exists("/usr/bin/python3") \
                and not os.environ.get("VALIDATE_NBFORMAT_REEXEC"):
            os.environ["VALIDATE_NBFORMAT_REEXEC"] = "1"
            os.execv("/usr/bin/python3", ["/usr/bin/python3", *sys.argv])
        print("validate_nbformat: python3-nbformat is not installed "
              "(apt-get install -y python3-nbformat)", file=sys.stderr)
        sys.exit(2)

import nbformat  # noqa: E402


def main(args):
    paths = []
    for arg in args or ["site/notebooks"]:
        if os.path.isdir(arg):
            paths.extend(sorted(glob.glob(os.path.join(arg, "*.ipynb"))))
        else:
            paths.append(arg)
    if not paths:
        print("validate_nbformat: no notebooks to check", file=sys.stderr)
        return 2
    bad = 0
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                nb = nbformat.read(f, as_version=nbformat.NO_CONVERT)
            if (nb.nbformat, nb.nbformat_minor) < (4, 5):
                raise nbformat.ValidationError(
                    f"nbformat {nb.nbformat}.{nb.nbformat_minor}, expected 4.5")
            nbformat.validate(nb, version=4, version_minor=5)
            missing = [i for i, c in enumerate(nb.cells) if "id" not in c]
            if missing:
                raise nbformat.ValidationError(f"cells without id: {missing}")
            print(f"valid   {path}")
        except Exception as e:  # noqa: BLE001 - report every kind of failure by notebook
            bad += 1
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            print(f"INVALID {path}: {first}")
    print(f"validate_nbformat: {len(paths) - bad} valid, {bad} invalid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
