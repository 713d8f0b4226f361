"""The ``onemap`` command (命令行): demo city, import, validation, schema.

Sub-commands import their modules lazily so that ``onemap --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

POINT_LAYERS_IN_DEMO = ("addresses", "incidents", "disputes", "hazards", "persons_of_concern", "cameras")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """警网融合一张图 (police–grid fusion one map): build, import, validate and analyse."""


@main.command()
@click.option("--scale", type=click.Choice(["tiny", "small", "full"]), default="tiny", show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
@click.option(
    "--boundaries",
    type=click.Path(exists=True),
    default=None,
    help="Folder (or file) of county boundary GeoJSON; default: the bundled Nantong counties.",
)
@click.option("--boundaries-crs", default="gcj02", show_default=True, help="CRS of the boundary files.")
@click.option("--until", default=None, help="Last day of the 24 months of events (YYYY-MM-DD).")
@click.option("--no-gpkg", is_flag=True, help="Skip the GeoPackage export.")
def demo(scale, seed, out, boundaries, boundaries_crs, until, no_gpkg) -> None:
    """Generate a deterministic demo city (演示城市) inside real county boundaries."""
    from data.demo import DEFAULT_UNTIL, BoundaryError, build_demo

    try:
        manifest = build_demo(
            out,
            scale=scale,
            seed=seed,
            boundaries=boundaries,
            boundaries_crs=boundaries_crs,
            until=until or DEFAULT_UNTIL,
            gpkg=not no_gpkg,
        )
    except BoundaryError as exc:
        raise click.ClickException(str(exc)) from exc
    _print_counts(manifest)


def _print_counts(manifest: dict) -> None:
    click.echo(
        f"{manifest['city_name']} ({manifest['scale']}, seed {manifest['seed']}): {manifest['seconds']} s"
    )
    for name, n in manifest["counts"].items():
        click.echo(f"  {name:<20} {n:>10,}")


@main.command("import")
@click.argument("path", type=click.Path(exists=True))
@click.option("--layer", "layer_name", default=None, help="Target layer; guessed from the file when omitted.")
@click.option(
    "--crs",
    default="EPSG:4326",
    show_default=True,
    help="CRS of the input: EPSG code, gcj02 or bd09 (a file's own declared CRS wins for EPSG).",
)
@click.option(
    "--encoding", default=None, help="Text encoding (default: detected; GBK for .dbf without .cpg)."
)
@click.option("--sheet", default=None, help="Excel sheet name.")
@click.option(
    "--fix-swapped", is_flag=True, help="Swap back lon/lat found swapped instead of rejecting them."
)
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Output folder.")
def import_(path, layer_name, crs, encoding, sheet, fix_swapped, out) -> None:
    """Import a field file (数据导入) into a layer; bad rows go to a rejects file with their reason."""
    from geo.io import IngestError, detect_layer, read_layer, write_result

    layer_name = layer_name or detect_layer(path)
    if not layer_name:
        raise click.ClickException(f"{path}: cannot tell which layer this is; pass --layer")
    try:
        result = read_layer(
            path, layer_name, crs=crs, encoding=encoding, sheet=sheet, fix_swapped=fix_swapped
        )
    except IngestError as exc:
        raise click.ClickException(str(exc)) from exc
    report = write_result(result, out)
    click.echo(
        f"{path} → {layer_name}: read {report['read']}, accepted {report['accepted']}, "
        f"rejected {report['rejected']}"
    )
    for rule, n in sorted(report["by_rule"].items()):
        click.echo(f"  {rule:<22} {n}")
    for w in result.warnings:
        click.echo(f"  warning: {w}")


@main.command()
@click.option("--grids", type=click.Path(exists=True), default=None, help="Grid polygons file.")
@click.option("--districts", type=click.Path(exists=True), default=None, help="警格 polygons file.")
@click.option("--binding", type=click.Path(exists=True), default=None, help="Grid → 警格 binding table.")
@click.option("--points", multiple=True, help="Point layer file, PATH or LAYER=PATH; repeatable.")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="A demo/data folder of GeoParquet layers: validates its grids, 警格 and point layers.",
)
@click.option(
    "--crs",
    default="EPSG:4326",
    show_default=True,
    help="CRS of inputs that do not declare one; a path may carry its own as PATH@CRS (e.g. a.csv@gcj02).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of problems.")
def validate(grids, districts, binding, points, data_dir, crs, as_json) -> None:
    """Validate layers (数据校验): report every problem at once; exit status 1 when any error is found."""
    from geo.validate import problems_to_json, summarise, validate_paths

    points = list(points)
    if data_dir:
        d = Path(data_dir)
        grids = grids or _existing(d / "grids.parquet")
        districts = districts or _existing(d / "districts.parquet")
        binding = binding or _existing(d / "grid_district.parquet")
        points += [f"{n}={p}" for n in POINT_LAYERS_IN_DEMO if (p := _existing(d / f"{n}.parquet"))]
    if not (grids or districts or points):
        raise click.UsageError("nothing to validate: pass --grids, --districts, --points or --data")
    problems = validate_paths(grids=grids, districts=districts, points=points, binding=binding, crs=crs)
    errors = [p for p in problems if p.severity == "error"]
    if as_json:
        click.echo(problems_to_json(problems))
    else:
        for p in problems:
            ids = ", ".join(p.ids[:5]) + (f" … (+{len(p.ids) - 5})" if len(p.ids) > 5 else "")
            click.echo(f"[{p.severity}] {p.rule:<22} {p.layer:<18} {ids}: {p.detail}")
        summary = summarise(problems)
        click.echo("summary: " + (", ".join(f"{k} {v}" for k, v in summary.items()) or "no problems"))
    sys.exit(1 if errors else 0)


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


@main.command()
@click.option(
    "--from",
    "demo_dir",
    type=click.Path(exists=True, file_okay=False),
    required=True,
    help="A demo city folder to cut the files from.",
)
@click.option("--out", type=click.Path(file_okay=False), required=True)
@click.option("--seed", type=int, default=0, show_default=True)
def messy(demo_dir, out, seed) -> None:
    """Write messy field files (GBK shapefile, GBK CSV, Excel) with planted defects and expected.json."""
    from data.messy import make_messy

    manifest = make_messy(demo_dir, out, seed=seed)
    for name, info in manifest["files"].items():
        click.echo(f"  {name:<26} {info['rows']:>6} rows  {info['crs']}")
    click.echo(f"  {len(manifest['expected'])} planted defects listed in {Path(out) / 'expected.json'}")


@main.command()
@click.option("--points", "points_path", required=True, help="Point layer file ([LAYER=]PATH[@CRS]).")
@click.option("--grids", "grids_path", required=True, help="Grid polygons file (PATH[@CRS]).")
@click.option("--districts", "districts_path", default=None, help="警格 polygons file, for station codes.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Output file: .parquet (GeoParquet), .gpkg, .geojson or .csv.",
)
def assign(points_path, grids_path, districts_path, out) -> None:
    """Add grid, village, township, county, 警格, station and bureau codes to every point (空间归属)."""
    from geo.assign import assign_points
    from geo.io import IngestError, detect_layer, read_layer, split_path_crs

    def load(spec: str, layer: str | None):
        name, sep, rest = spec.partition("=")
        if sep and name in _layer_names():
            layer, spec = name, rest
        path, crs = split_path_crs(spec)
        layer = layer or detect_layer(path)
        if not layer:
            raise click.ClickException(f"{path}: cannot tell which layer this is; write LAYER=PATH")
        try:
            result = read_layer(path, layer, crs=crs)
        except IngestError as exc:
            raise click.ClickException(str(exc)) from exc
        if result.rejected_count:
            click.echo(
                f"  {path}: {result.rejected_count} of {result.read} rows rejected (see onemap import)"
            )
        return result.accepted

    grids = load(grids_path, "grids")
    districts = load(districts_path, "districts") if districts_path else None
    points = load(points_path, None)
    assigned = assign_points(points, grids, districts)
    _write_any(assigned, Path(out))
    s = assigned.attrs.get("assign_summary", {})
    click.echo(
        f"{out}: {s.get('points', len(assigned)):,} points, {s.get('assigned', 0):,} in a grid, "
        f"{s.get('outside', 0):,} outside every grid, {s.get('on_edge', 0):,} on a shared edge"
    )


def _layer_names() -> set[str]:
    from data.schema import LAYERS

    return set(LAYERS)


def _write_any(frame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix in (".gpkg", ".geojson"):
        frame.to_file(path, driver="GPKG" if suffix == ".gpkg" else "GeoJSON", engine="pyogrio")
    elif suffix == ".csv":
        flat = frame.drop(columns="geometry").assign(lon=frame.geometry.x, lat=frame.geometry.y)
        flat.to_csv(path, index=False, encoding="utf-8-sig")
    else:
        raise click.ClickException(
            f"{path}: unknown output format {suffix!r} (.parquet, .gpkg, .geojson, .csv)"
        )


@main.group()
def models() -> None:
    """The fifteen push models (数据赋能模型)."""


@models.command("list")
def models_list() -> None:
    """One line per model: id, aspect, Chinese name."""
    from geo.models import cli_list

    for line in cli_list():
        click.echo(line)


@models.command("run")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Data folder (default: settings.DATA_DIR).",
)
@click.option(
    "--as-of", default=None, help="Moment of the run (YYYY-MM-DD = end of that day); default: data's end."
)
@click.argument("model_ids", nargs=-1)
def models_run(data_dir, as_of, model_ids) -> None:
    """Run all or the named models; print per-model warning counts."""
    from data import settings
    from geo.models import ModelError, cli_run

    try:
        for line in cli_run(data_dir or settings.DATA_DIR, as_of=as_of, ids=model_ids or None):
            click.echo(line)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


@main.command()
@click.option("--markdown", is_flag=True, help="Print docs/schema.md.")
def schema(markdown) -> None:
    """Print the layer schemas (图层数据规范)."""
    from data.schema import LAYERS, SchemaDoc

    if markdown:
        click.echo(SchemaDoc().render(), nl=False)
        return
    for lay in LAYERS.values():
        click.echo(
            f"{lay.name:<20} {lay.zh:<8} key={lay.key:<14} geometry={lay.geometry or '-'}  "
            f"{len(lay.columns)} columns"
        )


@main.command()
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data folder (default: settings.DATA_DIR, ONEMAP_DATA).",
)
@click.option(
    "--scale",
    type=click.Choice(["tiny", "small", "full"]),
    default=None,
    help="Scale of the demo city built on first run (default: settings.DEFAULT_SCALE).",
)
def up(data_dir, scale) -> None:
    """The main job: build the demo city on first run, then validate it and print its figures."""
    from data import settings
    from data.demo import build_demo

    folder = Path(data_dir) if data_dir else settings.DATA_DIR
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        click.echo(f"使用已有演示城市 {folder} (built {manifest['seconds']} s)")
    else:
        click.echo(f"首次运行：生成演示城市 → {folder}")
        manifest = build_demo(folder, scale=scale or settings.DEFAULT_SCALE, seed=settings.DEFAULT_SEED)
    _print_counts(manifest)
    from geo.validate import summarise, validate_paths

    points = [f"{n}={folder / f'{n}.parquet'}" for n in POINT_LAYERS_IN_DEMO]
    problems = validate_paths(
        grids=str(folder / "grids.parquet"),
        districts=str(folder / "districts.parquet"),
        binding=str(folder / "grid_district.parquet"),
        points=points,
    )
    summary = summarise(problems)
    click.echo("校验 validation: " + (", ".join(f"{k} {v}" for k, v in summary.items()) or "no problems"))


if __name__ == "__main__":
    main()
