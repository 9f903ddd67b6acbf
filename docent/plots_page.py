"""The `dvc plots` page offline: vega, vega-lite and vega-embed from a pinned PyPI package, not a CDN.

dvc's own page template loads the three libraries from a public CDN, so without internet access
it stays blank. `plots/offline.html` (committed; `.dvc/config` makes it dvc's default, `make plots`
passes it explicitly) loads them instead from `../plots/vega/`, which is where they land for the
page dvc writes to `dvc_plots/index.html`. This module puts them there:

    python -m docent.plots_page plots/vega      # `make plots` and `make repro` run it

The files come from the PyPI package `django-js-lib-vega-embed` (pinned in requirements.txt): the
official npm builds `vega/build/vega.min.js`, `vega-lite/build/vega-lite.min.js` and
`vega-embed/build/vega-embed.min.js`, byte for byte less their `//# sourceMappingURL` line. It is a
Django app, but only its static files are read, located through the distribution's file list like
the embedded model and corpus (`docent.io.installed_package_file`); it is never imported.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from docent.io import atomic_dir, installed_package_file

VEGA_PACKAGE = "django-js-lib-vega-embed"
STATIC = "js_lib_vega_embed/static/js_lib_vega_embed/"
# file written (what plots/offline.html loads) -> (file in the package, library version it holds)
VEGA_FILES = {
    "vega.min.js": ("vega5.js", "5.33.0"),
    "vega-lite.min.js": ("vega-lite5.js", "5.23.0"),
    "vega-embed.min.js": ("vega-embed6.js", "6.29.0"),
}


def packaged_file(name: str) -> Path:
    """Where the installed package keeps one of the three libraries."""
    return installed_package_file(
        VEGA_PACKAGE, lambda path: path == STATIC + name,
        "`make venv` installs it from requirements.txt; it ships the vega JS files for the plots page")


def install_vega_files(dest: str | Path) -> dict[str, str]:
    """Copy the three libraries into `dest` (replaced as a whole); returns {file: library version}."""
    dest = Path(dest)
    with atomic_dir(dest) as tmp:
        for target, (source, _) in VEGA_FILES.items():
            shutil.copyfile(packaged_file(source), tmp / target)
    return {target: version for target, (_, version) in VEGA_FILES.items()}


@click.command()
@click.argument("dest", type=click.Path(file_okay=False))
def main(dest: str) -> None:
    """Copy vega, vega-lite and vega-embed from the pinned package into DEST (plots/vega)."""
    versions = install_vega_files(dest)
    click.echo(f"{dest}: " + ", ".join(f"{name} ({v})" for name, v in versions.items()))


if __name__ == "__main__":
    main()
