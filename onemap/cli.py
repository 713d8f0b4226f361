"""The ``onemap`` command (命令行): demo city, import, validation, schema.

Sub-commands import their modules lazily so that ``onemap --help`` is instant.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

POINT_LAYERS_IN_DEMO = ("addresses", "incidents", "disputes", "hazards", "persons_of_concern", "cameras")


DATA_OPTION = click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Data folder (default: settings.DATA_DIR, ONEMAP_DATA).",
)
#: ``--data`` of a command that reads an existing folder.
EXISTING_DATA_OPTION = click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Data folder (default: settings.DATA_DIR, ONEMAP_DATA).",
)


def _check_day(ctx, param, value):
    """``--end``: a day (YYYY-MM-DD), checked here so that a typo is named before minutes of work."""
    if value is None:
        return None
    import datetime as dt

    try:
        return dt.date.fromisoformat(str(value).strip()).isoformat()
    except ValueError:
        raise click.BadParameter(
            f"结束日期须为 YYYY-MM-DD (end {value!r} is not a day such as 2026-12-04)"
        ) from None


END_OPTION = click.option(
    "--end",
    default=None,
    callback=_check_day,
    help="Last day of the demo city's history (YYYY-MM-DD); default: today in ONEMAP_TIMEZONE.",
)


def _end_day(end: str | None) -> str:
    """The demo's last day: ``end``, else today by the product's clock (:func:`data.clock.today`)."""
    from data import clock

    return end or clock.today().isoformat()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """警网融合一张图 (police–grid fusion one map): build, import, validate and analyse."""
    from data.private import private_umask

    private_umask()  # every file and folder this command makes holds personal data: owner only


def _warn_exposed(folder: Path) -> None:
    """Warn (Chinese and English, on stderr) when the data folder or a file in it is readable by others."""
    from data.private import exposure_warning

    message = exposure_warning(folder) if folder.exists() else None
    if message:
        click.echo(message, err=True)


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
@END_OPTION
@click.option("--until", "until", default=None, hidden=True, callback=_check_day, help="Old name of --end.")
@click.option("--no-gpkg", is_flag=True, help="Skip the GeoPackage export.")
def demo(scale, seed, out, boundaries, boundaries_crs, end, until, no_gpkg) -> None:
    """Generate a deterministic demo city (演示城市) inside real county boundaries.

    The same seed, scale and end day give the same city; another end day gives the same city with every
    date moved by the difference."""
    from data.demo import BoundaryError, build_demo

    try:
        manifest = build_demo(
            out,
            scale=scale,
            seed=seed,
            boundaries=boundaries,
            boundaries_crs=boundaries_crs,
            until=_end_day(end or until),
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
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Output folder (layer file + rejects)."
)
@click.option(
    "--store",
    "store_url",
    default=None,
    help="Also load the accepted rows into a store: 'embedded' (the SQLite file in --data), or a database "
    "URL (postgresql://… / sqlite:///…).",
)
@click.option("--append", is_flag=True, help="With --store: append to the layer instead of replacing it.")
@DATA_OPTION
def import_(path, layer_name, crs, encoding, sheet, fix_swapped, out, store_url, append, data_dir) -> None:
    """Import a field file (数据导入) into a layer; bad rows go to a rejects file with their reason.

    A folder of layers (``<layer>.parquet``, e.g. a demo city) given with ``--store`` is loaded whole.

    An operator's command (运维命令), trusted: it writes with the database's own credentials and no user
    scope applies (no network request reaches it). Rows are placed as the file says, grids of point layers
    without a grid column by point in polygon. Users write only through the REST API, whose reports are
    placed by the server and checked against the writer's area (docs/api.md)."""
    if store_url is None and out is None:
        raise click.ClickException("give --out (write the layer and its rejects) and/or --store")
    if Path(path).is_dir():
        if store_url is None:
            raise click.ClickException(f"{path} is a folder: load it into a store with --store")
        _import_folder(Path(path), store_url)
        return
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
    if out is not None:
        report = write_result(result, out)
        by_rule = report["by_rule"]
    else:
        by_rule = result.rejects["rule"].value_counts().to_dict() if len(result.rejects) else {}
    click.echo(
        f"{path} → {layer_name}: read {result.read}, accepted {len(result.accepted)}, "
        f"rejected {len(result.rejects)}"
    )
    for rule, n in sorted(by_rule.items()):
        click.echo(f"  {rule:<22} {n}")
    for w in result.warnings:
        click.echo(f"  warning: {w}")
    if store_url is not None:
        from data import settings

        store = _open_store(
            Path(data_dir) if data_dir else settings.DATA_DIR, None if store_url == "embedded" else store_url
        )
        try:
            n = store.load_frame(layer_name, result.accepted, replace=not append, source=str(path))
            if layer_name in ("grids", "districts", "grid_district", "incidents"):
                store.refresh()
        except (ValueError, LookupError) as exc:
            raise click.ClickException(f"{path}: {exc}") from exc
        finally:
            store.close()
        click.echo(f"store: {n} rows of {layer_name} {'appended' if append else 'loaded'} ({store.backend})")


def _import_folder(folder: Path, store_url: str) -> None:
    from data.store import load_layers

    store = _open_store(folder, None if store_url == "embedded" else store_url)
    try:
        report = load_layers(store, folder)
    finally:
        store.close()
    for line in report.lines():
        click.echo(line)


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
    from data.spreadsheet import write_csv

    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix in (".gpkg", ".geojson"):
        frame.to_file(path, driver="GPKG" if suffix == ".gpkg" else "GeoJSON", engine="pyogrio")
    elif suffix == ".csv":
        flat = frame.drop(columns="geometry").assign(lon=frame.geometry.x, lat=frame.geometry.y)
        write_csv(flat, path)
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
@EXISTING_DATA_OPTION
@click.option(
    "--as-of",
    default=None,
    help="Moment of the run (YYYY-MM-DD = end of that day); default: the data's end, or now if earlier.",
)
@click.option(
    "--store/--no-store",
    "to_store",
    default=True,
    show_default=True,
    help="Store the warnings (idempotent) and push new ones as work orders.",
)
@click.option(
    "--push-at",
    type=click.Choice(["clock", "as-of"]),
    default="clock",
    show_default=True,
    help="Time stamp of stored warnings and their work orders (deadlines count from it): the clock for "
    "live data, the run's moment to replay recorded data (the demo city, a back-test).",
)
@click.argument("model_ids", nargs=-1)
def models_run(data_dir, as_of, to_store, push_at, model_ids) -> None:
    """Run all or the named models; print per-model warning counts; store and push the warnings."""
    from data import settings
    from geo.models import ModelError, cli_run

    folder = data_dir or settings.DATA_DIR
    result: dict = {}
    try:
        for line in cli_run(folder, as_of=as_of, ids=model_ids or None, result=result):
            click.echo(line)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc
    if to_store:
        store = _open_store(folder)
        try:
            now = result["as_of"].to_pydatetime() if push_at == "as-of" else None
            inserted, existing = store.upsert_warnings(result["warnings"], push=True, now=now)
        finally:
            store.close()
        click.echo(f"store: {inserted} new warnings (pushed as work orders), {existing} already stored")


@main.group()
def orders() -> None:
    """Work orders (工单)."""


@orders.command("sweep")
@EXISTING_DATA_OPTION
@click.option("--at", "at", default=None, help="Reference time (YYYY-MM-DD[ HH:MM]); default: the clock.")
def orders_sweep(data_dir, at) -> None:
    """Overdue sweep (超期巡检): mark open work orders past their deadline 超期, with a trace row each."""
    import pandas as pd

    from data import settings

    when = None
    if at:
        try:
            when = pd.Timestamp(at).to_pydatetime()
        except ValueError as exc:
            raise click.BadParameter(f"{at!r} is not a date or time", param_hint="--at") from exc
    store = _open_store(data_dir or settings.DATA_DIR)
    try:
        n = store.sweep_overdue(now=when)
    finally:
        store.close()
    click.echo(f"超期巡检 sweep: {n} work order(s) marked 超期")


class UsageError(click.ClickException):
    """A user's mistake (wrong folder, missing data): one clear message, exit status 2."""

    exit_code = 2


def _open_store(folder, url: str | None = None):
    """The store beside the layers of ``folder`` (or ``url`` / ONEMAP_DATABASE_URL)."""
    from data.store import open_store

    try:
        return open_store(url, data_dir=folder)
    except Exception as exc:
        raise click.ClickException(f"cannot open the store: {exc}") from exc


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
@DATA_OPTION
@click.option(
    "--scale",
    type=click.Choice(["tiny", "small", "full"]),
    default=None,
    help="Scale of the demo city built on first run (default: settings.DEFAULT_SCALE).",
)
@click.option(
    "--serve/--no-serve", "then_serve", default=True, show_default=True, help="Start the dashboard."
)
@click.option("--host", default=None, help="Address to listen on (default: settings.HOST).")
@click.option("--port", type=int, default=None, help="Port (default: settings.PORT).")
@END_OPTION
def up(data_dir, scale, then_serve, host, port, end) -> None:
    """The main job: build the demo city on first run, validate it, load it into the store, run the push
    models, create the demo users, then serve the dashboard.

    The demo city's history ends today (``--end``), so its warning loop is live: orders wait in every
    state, for the demo grid worker and officer too."""
    from data import settings
    from data.demo import build_demo

    folder = Path(data_dir) if data_dir else settings.DATA_DIR
    _warn_exposed(folder)
    manifest_path = folder / "manifest.json"
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        built_end = str(manifest.get("until", ""))[:10]
        if end and end != built_end:
            raise click.ClickException(
                f"{folder} 已有截至 {built_end} 的演示城市 (the demo city there ends on {built_end}, not "
                f"{end}; remove the folder or choose another --data to build one ending on {end})"
            )
        click.echo(f"使用已有演示城市 {folder} (built {manifest['seconds']} s, 数据截至 {built_end})")
        today = _end_day(None)
        if not end and built_end < today:
            click.echo(
                f"  提示：该演示城市的历史截至 {built_end}，不是今天 (its history ended on {built_end}; "
                f"remove {folder} to rebuild it ending today, {today})"
            )
    else:
        click.echo(f"首次运行：生成演示城市 → {folder}")
        manifest = build_demo(
            folder, scale=scale or settings.DEFAULT_SCALE, seed=settings.DEFAULT_SEED, until=_end_day(end)
        )
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
    _ensure_store(folder, manifest)
    if then_serve:
        _serve(folder, host, port, wall=False)


def _demo_model_history(store, folder: Path, manifest: dict) -> None:
    """The demo city is a recorded history: its models run, and push, at the end of each of its last
    ``ONEMAP_DEMO_MODEL_WEEKS`` weeks, and the pushed orders are worked up to its end (a warning dated by the
    clock would fall outside every period the dashboard offers).

    The history ends at the end of the city's last day, or now when that day is today (the demo is then
    live: its open orders are judged against the clock like any other). The layers are read once for all
    the weeks (:func:`geo.models.replay`)."""
    import time

    import pandas as pd

    from data import settings
    from data.store.demo_history import demo_pair, simulate_handling
    from geo.models import default_as_of, replay

    end = default_as_of(folder)
    weeks = max(1, settings.DEMO_MODEL_WEEKS)
    moments = [end - pd.Timedelta(weeks=k) for k in reversed(range(weeks))]
    started = time.perf_counter()
    total = 0
    for when, warnings, _ in replay(folder, moments):
        inserted, _ = store.upsert_warnings(warnings, push=True, now=when.to_pydatetime())
        total += inserted
        click.echo(f"推送模型 models as of {when:%Y-%m-%d %H:%M}: {inserted} new warnings pushed")
    live = demo_pair(store)
    states = simulate_handling(store, end.to_pydatetime(), seed=int(manifest.get("seed", 0)), live=live)
    worked = " · ".join(f"{s} {n:,}" for s, n in sorted(states.items()))
    click.echo(
        f"预警闭环 {total:,} warnings over {weeks} weeks ({time.perf_counter() - started:.0f} s); "
        f"their orders at {end:%Y-%m-%d %H:%M}: {worked}"
    )


def _ensure_store(folder: Path, manifest: dict) -> None:
    """Load the demo city into the store (once per build), run the push models into it, make demo users."""
    from data.store import load_layers
    from data.store.demo_users import ensure_demo_users

    store = _open_store(folder)
    try:
        counts = store.counts()
        if counts.get("grids", 0) != manifest["counts"].get("grids") or counts.get(
            "incidents", 0
        ) != manifest["counts"].get("incidents"):
            click.echo(f"导入数据库 loading the store ({store.backend}) …")
            report = load_layers(store, folder)
            for line in report.lines():
                click.echo("  " + line)
            _demo_model_history(store, folder, manifest)
        made = ensure_demo_users(store, folder)
        if made:
            click.echo(f"演示账号 demo users (passwords in {folder / 'demo_users.txt'}):")
            for user_id, role, unit, _password in made:
                click.echo(f"  {user_id:<12} {role:<12} {unit}")
    finally:
        store.close()


def _serve(folder: Path, host: str | None, port: int | None, wall: bool) -> None:
    from dashboard.app import AppConfig, create_app
    from dashboard.serve import run
    from data import settings

    store = _open_store(folder)
    try:
        empty = not store.grids_of()
    except Exception as exc:  # a store too old or broken to answer: say so, no traceback
        store.close()
        raise UsageError(f"数据库无法读取 (the store cannot be read): {exc}") from exc
    if empty:
        store.close()
        where = (settings.DATABASE_URL and "ONEMAP_DATABASE_URL") or f"{folder}/onemap.sqlite"
        raise UsageError(
            f"{where} 中还没有城市数据（没有网格），无法提供看板服务。请先运行 onemap up --data {folder}"
            f"（生成并载入演示城市），或 onemap import <图层目录> --store embedded|URL --data {folder}"
            f"（载入本单位的数据）。 (the store of {folder} holds no city yet: run `onemap up` for the demo"
            " city or `onemap import DIR --store …` for your own layers first)"
        )
    config = AppConfig(
        tile_url=settings.TILE_URL or None,
        data_dir=folder,
        wall_interval_s=settings.WALL_INTERVAL_S,
        sso_header=settings.SSO_HEADER,
        trusted_proxies=settings.SSO_TRUSTED_PROXIES,
        sweep_minutes=settings.SWEEP_MINUTES,
        secure_cookies=settings.SECURE_COOKIES,
    )
    app = create_app(store, config)
    h, p = host or settings.HOST, port or settings.PORT
    users = folder / "demo_users.txt"
    click.echo(f"警网融合一张图: http://{h}:{p}/" + ("wall" if wall else ""))
    if users.exists():
        click.echo(f"  log in with a demo account from {users}")
    try:
        run(app.server, h, p)
    finally:
        store.close()


@main.command()
@DATA_OPTION
@click.option("--host", default=None, help="Address to listen on (default: settings.HOST, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default: settings.PORT, 8050).")
@click.option("--wall", is_flag=True, help="Video-wall mode: print the /wall address to open on the wall.")
def serve(data_dir, host, port, wall) -> None:
    """Serve the dashboard (five screens, REST API, /wall) for a data folder's store."""
    from data import settings

    folder = Path(data_dir) if data_dir else settings.DATA_DIR
    _warn_exposed(folder)
    _serve(folder, host, port, wall)


@main.command()
@DATA_OPTION
@click.option("--unit", "unit_code", required=True, help="Unit code (either hierarchy).")
@click.option("--from", "start", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "end", required=True, help="Last day (YYYY-MM-DD).")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output .png or .pdf.")
def brief(data_dir, unit_code, start, end, out) -> None:
    """A one-page briefing map (治安态势简报, PNG or PDF) of a unit and days."""
    from dashboard.brief import BriefExportError
    from dashboard.brief import brief as make_brief
    from data import settings
    from data.store.base import UnknownUnitError

    store = _open_store(Path(data_dir) if data_dir else settings.DATA_DIR)
    try:
        path = make_brief(store, unit_code, start, end, out)
    except (UnknownUnitError, ValueError, BriefExportError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"wrote {path}")


@main.group()
def users() -> None:
    """Local users (用户): add, list, disable, passwd."""


@users.command("add")
@DATA_OPTION
@click.argument("user_id")
@click.option("--role", required=True, help="admin, leader, analyst, officer, grid_worker or display.")
@click.option(
    "--unit", "unit_code", required=True, help="Unit code the user is scoped to (either hierarchy)."
)
@click.option("--staff", "staff_id", default=None, help="Staff id (for a grid worker's or officer's orders).")
@click.option("--name", default=None, help="Display name.")
@click.password_option("--password", help="Password (asked when omitted; at least 8 characters).")
def users_add(data_dir, user_id, role, unit_code, staff_id, name, password) -> None:
    """Add a user bound to a unit."""
    from data import settings
    from data.store.users import add_user

    store = _open_store(Path(data_dir) if data_dir else settings.DATA_DIR)
    try:
        add_user(store, user_id, password, role, unit_code, staff_id=staff_id, name=name)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"added {user_id} ({role}, {unit_code})")


@users.command("list")
@DATA_OPTION
def users_list(data_dir) -> None:
    """List users (never their hashes)."""
    from data import settings
    from data.store.users import list_users

    store = _open_store(Path(data_dir) if data_dir else settings.DATA_DIR)
    try:
        frame = list_users(store)
    finally:
        store.close()
    for r in frame.itertuples():
        state = "停用" if r.disabled else "启用"
        click.echo(f"{r.user_id:<16} {r.role:<12} {r.unit_code or '-':<16} {r.staff_id or '-':<12} {state}")


@users.command("disable")
@DATA_OPTION
@click.argument("user_id")
def users_disable(data_dir, user_id) -> None:
    """Disable a user and end every session of theirs (users are never deleted: the audit log names
    them). A server that checked a session in the last few seconds stops accepting it within 5 s."""
    from data import settings
    from data.store.users import set_disabled

    store = _open_store(Path(data_dir) if data_dir else settings.DATA_DIR)
    try:
        ended = set_disabled(store, user_id, True)
    except LookupError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"disabled {user_id} ({ended} session(s) ended)")


@users.command("passwd")
@DATA_OPTION
@click.argument("user_id")
@click.password_option("--password", help="New password (asked when omitted; at least 8 characters).")
def users_passwd(data_dir, user_id, password) -> None:
    """Set a user's password, clear the lock-out of the name and end every session of the user."""
    from data import settings
    from data.store.users import set_password

    store = _open_store(Path(data_dir) if data_dir else settings.DATA_DIR)
    try:
        ended = set_password(store, user_id, password)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"password of {user_id} changed ({ended} session(s) ended)")


if __name__ == "__main__":
    main()
