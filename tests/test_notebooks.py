"""The analysts' notebooks (分析笔记本) run end to end on a tiny demo city and stay clean in git.

Each notebook is executed with nbclient in a ``python3`` kernel of this very interpreter (a kernel spec
written to a temporary folder, so a ``python3`` kernel installed elsewhere on the machine cannot be
picked up), with ``ONEMAP_DATA`` pointing at the session's tiny demo city and a timeout per cell.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
NAMES = ("hotspot_analysis.ipynb", "coverage_audit.ipynb")
CELL_TIMEOUT_S = 180

ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
URL = re.compile(r"https?://", re.IGNORECASE)


def _kernel_spec_manager(folder: Path) -> KernelSpecManager:
    """A spec manager that knows one kernel, ``python3``, running this interpreter."""
    spec_dir = folder / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(folder)], ensure_native_kernel=False)


def _execute(nb: nbformat.NotebookNode, data_dir: Path, kernels: Path) -> nbformat.NotebookNode:
    """Run every cell of ``nb`` (in place) against ``data_dir``; a failing cell raises."""
    env = dict(os.environ)
    env["ONEMAP_DATA"] = str(data_dir)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=_kernel_spec_manager(kernels))
    client = NotebookClient(
        nb,
        km=km,
        timeout=CELL_TIMEOUT_S,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    client.execute(env=env)
    return nb


def _texts(nb: nbformat.NotebookNode) -> str:
    """Every text the outputs of ``nb`` show (streams, plain text, markdown, HTML), joined."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.output_type == "stream":
                parts.append(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                for mime in ("text/plain", "text/markdown", "text/html"):
                    if mime in out.data:
                        parts.append(out.data[mime])
    return "\n".join(parts)


def _output_of(nb: nbformat.NotebookNode, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return _texts(nbformat.v4.new_notebook(cells=[cell]))


@pytest.fixture(scope="module")
def run(tiny_demo, tmp_path_factory) -> Callable[[str], nbformat.NotebookNode]:
    """Execute a committed notebook once per module against the tiny demo city."""
    kernels = tmp_path_factory.mktemp("kernels")
    done: dict[str, nbformat.NotebookNode] = {}

    def execute(name: str) -> nbformat.NotebookNode:
        if name not in done:
            done[name] = _execute(nbformat.read(NOTEBOOKS / name, as_version=4), tiny_demo, kernels)
        return done[name]

    return execute


@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes_every_cell(run, name):
    nb = run(name)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert errors == []


def test_hotspot_notebook_key_outputs(run):
    nb = run("hotspot_analysis.ipynb")
    text = _texts(nb)
    # the assignment check compares with the generator's own grid codes
    assert "agreement with the stored grid_code: 100.00%" in text
    # the Gi* class table lists every class for both p-value sources, the H3 one too
    gi_table = _output_of(nb, "hotspot-gi-star")
    assert "冷热点 class" in gi_table and "热点99" in gi_table and "冷点99" in gi_table
    assert "permutation + FDR" in gi_table and "normal + FDR" in gi_table
    assert "热点99" in _output_of(nb, "hotspot-h3")
    assert "half-distance 半衰距离" in text and "half-life 半衰期" in text
    assert "unit_share_for_80" in text and "gini" in text
    mimes = {m for c in nb.cells for o in c.get("outputs", []) for m in o.get("data", {})}
    assert "application/vnd.plotly.v1+json" in mimes
    summary = _output_of(nb, "hotspot-summary")
    assert summary.count("- **") >= 6 and "热点网格 hot-spot grids" in summary


def test_coverage_notebook_key_outputs(run):
    nb = run("coverage_audit.ipynb")
    text = _texts(nb)
    for heading in (
        "网格铺设 tiling",
        "绑定 binding",
        "力量 staffing",
        "走访 visits",
        "巡逻 patrol",
        "视频 cameras",
    ):
        assert heading in text
    assert "gini_grid_households" in text
    kpis = _output_of(nb, "coverage-kpi-tables")
    assert "基础信息采集登记率 registration rate" in kpis and "目标 target" in kpis
    assert "通州区" in kpis and "通州分局" in kpis
    compstat = _output_of(nb, "coverage-compstat")
    assert "d28_change_pct" in compstat and "ytd_prev" in compstat and "合计" in compstat
    summary = _output_of(nb, "coverage-summary")
    assert summary.count("- **") >= 8 and "CompStat" in summary


def test_outputs_hold_no_personal_data(run, tiny_demo):
    texts = "\n".join(_texts(run(name)) for name in NAMES)
    assert "G0000" in texts  # persons of concern are listed, by record id
    assert not ID_NUMBER.search(texts)
    assert not MOBILE.search(texts)
    people = pd.concat(
        [
            pd.read_parquet(tiny_demo / f"{layer}.parquet", columns=["name", "id_number", "phone"])
            for layer in ("persons_of_concern", "staff")
        ]
    )
    # two-character names can be part of a place name (陈海 in 陈海村), three-character ones cannot
    names = people["name"].dropna().astype(str)
    leaked = [v for v in names[names.str.len() >= 3].unique() if v in texts]
    leaked += [v for v in people[["id_number", "phone"]].stack().astype(str).unique() if v in texts]
    assert leaked == []


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs_and_no_urls(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert [c.id for c in code if URL.search(c.source)] == []


def test_committed_notebooks_match_the_generator():
    spec = importlib.util.spec_from_file_location("notebooks_make", NOTEBOOKS / "_make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    assert set(make.NOTEBOOKS) == set(NAMES)
    for name, (prefix, cells) in make.NOTEBOOKS.items():
        built = json.loads(nbformat.writes(make.build(prefix, cells)))
        committed = json.loads((NOTEBOOKS / name).read_text(encoding="utf-8"))
        assert built == committed, f"{name} is stale: run python notebooks/_make.py"


def test_setup_builds_a_demo_city_in_an_empty_folder(tmp_path):
    committed = nbformat.read(NOTEBOOKS / "coverage_audit.ipynb", as_version=4)
    setup = next(c for c in committed.cells if c.get("id") == "coverage-setup")
    nb = nbformat.v4.new_notebook(cells=[setup], metadata=committed.metadata)
    folder = tmp_path / "fresh"
    _execute(nb, folder, tmp_path / "kernels")
    assert (folder / "manifest.json").exists() and (folder / "grids.parquet").exists()
    text = _texts(nb)
    assert "building a tiny demo city" in text and str(folder) in text
