"""Write the analysts' notebooks (分析笔记本) from the cell lists below, without outputs.

The notebooks are generated so that a review reads Python, not JSON, and so that every regeneration
gives the same bytes (fixed cell ids, no outputs, no execution counts). Edit the cells here, then run::

    python notebooks/_make.py

``tests/test_notebooks.py`` checks that the committed ``.ipynb`` files equal what this script writes,
and executes both against a tiny demo city.
"""

# Cell sources are formatted at the project's 110 columns inside the notebooks (ruff checks the .ipynb
# files themselves); the 8-space indent they carry here would push their long lines past it.
# ruff: noqa: E501

from __future__ import annotations

import sys
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

#: (cell type, source, name); a named cell gets the id ``{prefix}-{name}`` (tests find it by it).
Cell = tuple[str, str, str | None]


def md(text: str) -> Cell:
    """A markdown cell."""
    return ("markdown", dedent(text).strip(), None)


def code(text: str, name: str | None = None) -> Cell:
    """A code cell, optionally named."""
    return ("code", dedent(text).strip(), name)


SETUP = code(
    """
    import json
    import warnings
    from pathlib import Path

    import geopandas as gpd
    import numpy as np
    import pandas as pd
    from IPython.display import Markdown, display

    import data
    from data import settings
    from data.demo import build_demo

    # esda imports tqdm.auto, which warns in a kernel without ipywidgets; no progress bar is shown here
    warnings.filterwarnings("ignore", message="IProgress not found")
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 180)

    DATA_DIR = settings.DATA_DIR  # ONEMAP_DATA, default var/demo
    if not DATA_DIR.is_absolute():
        # a relative folder is taken from the repository root (where `onemap up` keeps var/demo),
        # not from notebooks/, where Jupyter starts the kernel
        DATA_DIR = Path(data.__file__).resolve().parent.parent / DATA_DIR
    if not (DATA_DIR / "manifest.json").exists():
        print(f"{DATA_DIR}: 没有数据 no data yet; building a tiny demo city (seed 0) ...")
        build_demo(DATA_DIR, "tiny", seed=0, gpkg=False, progress=False)
    manifest = json.loads((DATA_DIR / "manifest.json").read_text(encoding="utf-8"))
    UNTIL = pd.Timestamp(manifest["until"])  # the last day of the data
    END = UNTIL + pd.Timedelta(days=1)  # exclusive end: the whole last day counts
    print(
        f"数据 data: {DATA_DIR} ({manifest.get('city_name', '')}, scale {manifest.get('scale')}, "
        f"{manifest['counts']['grids']:,} grids), data until {UNTIL.date()}"
    )
    """,
    "setup",
)

CHOOSE_RES = code(
    """
    # H3 resolution (分辨率): hexagons about as fine as the grids (7: 5.2 km², 8: 0.74 km² a cell)
    b = grids.total_bounds
    epsg = projected_crs_for((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)
    median_grid_km2 = float(grids.to_crs(epsg).area.median() / 1e6)
    H3_RES = 8 if median_grid_km2 < 2 else 7
    print(f"median grid {median_grid_km2:.2f} km² (EPSG:{epsg}) -> H3 resolution {H3_RES}")
    """
)

# --------------------------------------------------------------------------------------------------
# hotspot_analysis.ipynb

HOTSPOT: list[Cell] = [
    md(
        """
        # 警情热点分析 Incident hotspot analysis

        本笔记本面向分析研判人员：从落格核验开始，逐步完成冷热点、局部莫兰、H3 六边形、时空热点、时段分布、
        重复与近重复、二八定律分析，最后给出由结果计算出的"重点关注"清单。

        A walk through the hotspot statistics of `geo/` on the demo city (or any folder of layers in the same
        schema): where incidents concentrate, whether the concentration is more than chance, how it moves
        over time, when it happens, and how much of it repeats. Every figure below is computed from the data;
        re-run the notebook after changing the parameters or the data folder.

        **Data folder.** `data.settings.DATA_DIR` (environment variable `ONEMAP_DATA`, default `var/demo` under
        the repository root). If it holds no `manifest.json`, a tiny demo city is built there first (a few
        seconds). Dates are stated relative to the data's last day (`until` in the manifest), not to today.
        """
    ),
    SETUP,
    md(
        """
        ## 参数 Parameters

        The analysis window is the last `MONTHS` months up to the data's last day. Only valid incidents
        (有效警情) are counted by default; set `CATEGORIES` to study, say, 刑事 and 治安 only.
        """
    ),
    code(
        """
        MONTHS = 12  # analysis window: the last MONTHS months of the data
        CATEGORIES = None  # e.g. ["刑事", "治安"]; None = every category
        VALID_ONLY = True  # 有效警情 only
        PERMUTATIONS = 9999  # conditional permutations of Gi* and local Moran (the library default)
        EMERGING_MONTHS = 24  # monthly time bins of the emerging hot spot analysis
        EMERGING_PERMUTATIONS = 99  # per bin: 24 Gi* runs, so fewer permutations keep it quick
        SEED = 0  # every permutation test is seeded: the same data give the same answer
        REPEAT_DAYS = 30  # repeat: same address within this many days
        NEAR_REPEAT_M, NEAR_REPEAT_DAYS = 400, 28  # extent of the near-repeat (Knox) table
        NEAR_REPEAT_PERMUTATIONS = 49
        MIN_POPULATION = 500  # rates per 1,000 residents are shown for grids at least this populous

        START = END - pd.DateOffset(months=MONTHS)
        print(f"analysis window 分析时段: {START.date()} .. {UNTIL.date()} ({MONTHS} months to the data's last day)")
        """
    ),
    md(
        """
        ## 1. 读取数据 Load grids and incidents

        Only the columns needed are read (a GeoParquet file per layer). `events` keeps every month of the
        selected incidents (for the emerging hot spots); `incidents` is the analysis window.
        """
    ),
    code(
        """
        from geo import assign, heat, hotspots
        from geo.crs import projected_crs_for

        grids = gpd.read_parquet(
            DATA_DIR / "grids.parquet",
            columns=["grid_code", "grid_name", "grid_type", "district_code", "population", "geometry"],
        )
        districts = pd.read_parquet(
            DATA_DIR / "districts.parquet", columns=["district_code", "station_code", "bureau_code"]
        )
        addresses = gpd.read_parquet(DATA_DIR / "addresses.parquet", columns=["address_id", "households", "geometry"])
        all_incidents = gpd.read_parquet(
            DATA_DIR / "incidents.parquet",
            columns=["incident_id", "occurred_at", "category", "valid", "address_id", "grid_code", "geometry"],
        )
        keep = pd.Series(True, index=all_incidents.index)
        if VALID_ONLY:
            keep &= all_incidents["valid"].fillna(False).astype(bool)
        if CATEGORIES:
            keep &= all_incidents["category"].isin(CATEGORIES)
        events = all_incidents[keep]
        in_window = (events["occurred_at"] >= START) & (events["occurred_at"] < END)
        incidents = events[in_window].reset_index(drop=True)
        print(
            f"{len(grids):,} 网格 grids; {len(all_incidents):,} incidents in the data, "
            f"{len(incidents):,} selected in the window"
        )
        incidents["category"].value_counts().rename("警情数 incidents").to_frame()
        """
    ),
    md(
        """
        ## 2. 落格核验 Verify the grid assignment

        Every statistic below counts incidents per grid, so the grid code of each incident must be right.
        `geo.assign.assign_points` recomputes it from the point and the grid polygons (exact, as shapely's
        `covers`; a point on an edge shared by two grids goes to the smaller grid code, a point outside every
        grid gets none) and adds both hierarchies' codes (警格, 派出所, 分局). We compare it with the
        `grid_code` stored in the data: any difference is a geocoding or registration problem to chase.
        """
    ),
    code(
        """
        assigned = assign.assign_points(incidents[["incident_id", "geometry"]], grids, districts)
        summary = assigned.attrs["assign_summary"]
        stored = incidents["grid_code"].astype("string").fillna("")
        computed = assigned["grid_code"].astype("string").fillna("")
        agree = stored.eq(computed)
        print(
            f"落格 assigned {summary['assigned']:,} of {summary['points']:,}; outside every grid "
            f"{summary['outside']:,}; on a shared edge {summary['on_edge']:,}"
        )
        print(
            f"与存储的网格编码一致 agreement with the stored grid_code: {agree.mean():.2%} "
            f"({int((~agree).sum()):,} differ)"
        )
        # from here on the recomputed codes are used
        incidents["grid_code"] = assigned["grid_code"]
        pd.DataFrame({"incident_id": incidents["incident_id"], "stored": stored, "computed": computed})[~agree].head(
            10
        )
        """
    ),
    md(
        """
        ## 3. 各网格警情数与千人发案率 Counts and rates per grid

        Counts say where the workload is; rates per 1,000 residents (千人发案率) say where the risk per
        resident is. A rate on a small population is unstable (three incidents in a grid of 20 residents is
        150 per 1,000), and dedicated grids (专属网格: markets, parks, schools) have few residents but many
        visitors, so rates are listed only for grids with at least `MIN_POPULATION` residents.
        """
    ),
    code(
        """
        counts = incidents.groupby("grid_code").size().reindex(grids["grid_code"], fill_value=0).rename("incidents")
        per_grid = grids.drop(columns="geometry").set_index("grid_code").join(counts)
        per_grid["per_1000"] = per_grid["incidents"] / per_grid["population"].where(per_grid["population"] > 0) * 1000
        display(per_grid[["incidents", "per_1000"]].describe().T.round(1))
        top_count = per_grid.nlargest(10, "incidents")
        top_rate = per_grid[per_grid["population"] >= MIN_POPULATION].nlargest(10, "per_1000")
        display(Markdown("**警情最多的网格 most incidents**"))
        display(top_count[["grid_name", "grid_type", "population", "incidents", "per_1000"]].round(1))
        display(Markdown(f"**千人发案率最高的网格 highest rate (population >= {MIN_POPULATION})**"))
        top_rate[["grid_name", "grid_type", "population", "incidents", "per_1000"]].round(1)
        """
    ),
    md(
        """
        ## 4. 冷热点分析 Getis-Ord Gi* with Queen contiguity

        Gi* (冷热点分析) compares the incidents in a grid **and its neighbours** with the city-wide mean. The
        neighbours are the grids sharing at least a corner (Queen contiguity, 共点邻接). A large positive
        z-score is a hot spot (热点): a cluster of high counts; a negative one a cold spot (冷点).

        How significance is decided here, so the map can be defended:

        * **Conditional permutations** (条件置换, `PERMUTATIONS`, seeded): the grid's own count is held fixed
          and the other counts are shuffled over its neighbours; the pseudo p-value is how often a shuffle is
          as extreme as the data. No normality is assumed.
        * **Two-sided** p-values (hot *or* cold), classed at 90 / 95 / 99 % like ArcGIS.
        * **False discovery rate** (FDR, 错误发现率, Benjamini-Hochberg): with hundreds of grids tested at
          once, about 5 % of them would be "significant" at 95 % by chance alone; FDR keeps the share of false
          alarms among the marked grids at the chosen level.

        The same Gi* with `p_source="norm"` uses the normal approximation of the z-score instead. The two
        answer different questions, and on skewed police counts they differ (see the next table).
        """
    ),
    code(
        """
        w = hotspots.contiguity_weights(grids, kind="queen")
        print(f"Queen weights: {w.n:,} grids, {w.mean_neighbors:.1f} neighbours on average, {len(w.islands)} islands")
        gi = hotspots.getis_ord(counts, w, permutations=PERMUTATIONS, seed=SEED)
        gi_norm = hotspots.getis_ord(counts, w, permutations=0, p_source="norm")
        CLASS_ORDER = [*hotspots.GI_CLASSES.values(), hotspots.NOT_TESTABLE]


        def class_counts(**results):
            table = pd.DataFrame({name: r["class"].value_counts() for name, r in results.items()})
            table = table.reindex(CLASS_ORDER).fillna(0).astype(int)
            table.index.name = "冷热点 class"
            return table


        for name, r in (("permutation", gi), ("normal", gi_norm)):
            a = r.attrs
            print(
                f"{name:>11}: significant at {a['alpha']:.0%} with FDR {a['n_significant']}, "
                f"without FDR {a['n_significant_raw']}"
            )
        class_counts(**{"置换检验 permutation + FDR": gi, "正态近似 normal + FDR": gi_norm})
        """,
        "gi-star",
    ),
    md(
        """
        ### 为什么置换检验标出的热点更少 Why the permutation test marks fewer grids

        The two p-values answer different questions, and police counts (a few extreme places, many ordinary
        ones) are where they differ most. Three mechanisms, each named in the `reason` column below:

        * **孤立高值 lone high grid.** The analytical z counts the grid's own incidents in its Gi* sum, so a
          single extreme grid (a market, a station square) gets a large z even when its neighbours are
          ordinary. Conditional randomisation holds the grid's own count fixed and shuffles only the
          neighbours: its pseudo p-value asks "are the *neighbours* unusually high?", and for a lone extreme
          grid they are not. It is a problem *place*, not a hot *area*.
        * **高值邻居 next to a high grid.** The mirror image: an ordinary grid whose neighbourhood total is
          dominated by one extreme neighbour. The normal approximation reads the large total as very
          unlikely; in the shuffles, an extreme value lands among its neighbours in a few percent of the
          permutations, so its permutation p-value is a few percent, which FDR then removes.
        * **p 下限 floor and FDR.** A permutation p-value cannot go below `2 / (PERMUTATIONS + 1)`, and
          Benjamini-Hochberg at level *a* over *n* grids rejects nothing unless at least
          `floor × n / a` grids reach the floor. With many grids, use more permutations (9,999).

        So the normal approximation is not "more sensitive": on skewed counts it is mostly wrong about what
        a cluster is. Read the grids it alone marks as places to check one by one.
        """
    ),
    code(
        """
        adjacency = w.to_adjlist(drop_islands=True)
        adjacency["n"] = adjacency["neighbor"].map(counts)
        neighbours = adjacency.groupby("focal")["n"].agg(["mean", "max", "sum"]).reindex(counts.index)
        compare = pd.DataFrame(
            {
                "grid_name": per_grid["grid_name"],
                "incidents": counts,
                "neighbours_mean": neighbours["mean"].round(1),
                "neighbours_max": neighbours["max"],
                "gi_z": gi["gi_z"].round(2),
                "p_norm": gi_norm["p_value"],
                "p_perm": gi["p_value"],
                "p_perm_fdr": gi["p_fdr"],
                "class_norm": gi_norm["class"],
                "class_perm": gi["class"],
            }
        )
        p_floor = gi.attrs["p_floor"]
        compare["reason"] = np.select(
            [
                compare["incidents"] > 2 * compare["neighbours_mean"],
                compare["neighbours_max"] > (compare["incidents"] + neighbours["sum"]) / 2,
                compare["p_perm"] <= p_floor,
            ],
            ["孤立高值 lone high grid", "高值邻居 next to a high grid", "p 下限 at the permutation floor"],
            default="FDR 校正 removed by FDR",
        )
        only_norm = gi_norm["gi_bin"].ne(0) & gi["gi_bin"].eq(0)
        needed = int(np.ceil(p_floor * w.n / 0.10))
        print(
            f"{int(only_norm.sum())} grids are marked by the normal approximation only; with {PERMUTATIONS} "
            f"permutations the smallest p is {p_floor:.4f}, and BH at 90 % over {w.n} grids needs at least "
            f"{needed} grids at that floor before any is marked ({int((gi['p_value'] <= p_floor).sum())} are)."
        )
        display(compare.loc[only_norm, "reason"].value_counts().rename("grids").to_frame())
        compare[only_norm].sort_values("gi_z", ascending=False).head(10)
        """
    ),
    md(
        """
        ## 5. 局部莫兰 Local Moran's I (LISA) clusters

        Local Moran's I (局部莫兰指数) compares each grid with the mean of its neighbours (row-standardised
        weights) and sorts the significant ones into four kinds: 高高 HH (a high grid among high ones: a hot
        cluster), 低低 LL (cold cluster), 高低 HL (a high outlier among low neighbours: the lone problem place
        of the previous section), 低高 LH (a low grid inside a hot area). Same permutations, seed and FDR.
        """
    ),
    code(
        """
        lisa = hotspots.local_moran(counts, w, permutations=PERMUTATIONS, seed=SEED)
        a = lisa.attrs
        print(f"significant with FDR: {a['n_significant']}, without FDR: {a['n_significant_raw']}")
        quadrant_zh = lisa["quadrant"].map(dict(hotspots.MORAN_CLUSTERS.values())).rename("象限 quadrant")
        pd.crosstab(quadrant_zh, lisa["significant"].map({True: "显著 significant", False: "不显著 not significant"}))
        """
    ),
    md(
        """
        ## 6. H3 六边形 The same on H3 cells

        Grids differ in size and shape, which changes how many neighbours each has and how much a count
        means. H3 hexagons (Uber's hexagonal grid) are all alike and each has six neighbours, so they give a
        second, shape-independent view. The study area is every cell holding at least one standard address
        (标准地址) or one incident: cells of fields and water are left out, because a zero there is
        structural, not a low rate. Residents per cell come from the addresses' households.
        """
    ),
    CHOOSE_RES,
    code(
        """
        residents = heat.population_to_cells(addresses, H3_RES)
        cells = heat.h3_aggregate(incidents, H3_RES, by="category", population=residents)
        study_cells = residents.index.union(pd.Index(cells["h3"]))
        h3_counts = cells.set_index("h3")["count"].reindex(study_cells, fill_value=0)
        hw = hotspots.h3_weights(study_cells)
        h3_gi = hotspots.getis_ord(h3_counts, hw, permutations=PERMUTATIONS, seed=SEED)
        h3_gi_norm = hotspots.getis_ord(h3_counts, hw, permutations=0, p_source="norm")
        h3_lisa = hotspots.local_moran(h3_counts, hw, permutations=PERMUTATIONS, seed=SEED)
        print(f"{len(study_cells):,} cells in the study area, {len(hw.islands)} islands (cells without a neighbour)")
        display(class_counts(**{"置换检验 permutation + FDR": h3_gi, "正态近似 normal + FDR": h3_gi_norm}))
        display(h3_lisa["cluster"].value_counts().rename("LISA (FDR)").to_frame())
        h3_needed = int(np.ceil(h3_gi.attrs["p_floor"] * (hw.n - len(hw.islands)) / 0.10))
        print(f"BH at 90 % over these cells needs at least {h3_needed} cells at the permutation floor")
        display(Markdown("**警情最多的六边形 busiest cells**"))
        busiest = cells.set_index("h3").head(10)[["count", "population", "rate_per_1000"]]
        busiest.join(h3_gi[["gi_z", "class"]]).join(h3_gi_norm["class"].rename("class_norm")).join(
            h3_lisa["quadrant"]
        ).round(2)
        """,
        "h3",
    ),
    md(
        """
        ## 7. 时空热点 Emerging hot spots by month

        The emerging hot spot analysis (时空热点分析) runs Gi* on each month's counts with the same Queen
        weights and classifies each grid's history into the patterns of space-time-cube practice: 新增 new,
        连续 consecutive, 加剧 intensifying, 持续 persistent, 减弱 diminishing, 零星 sporadic, 振荡 oscillating,
        历史 historical (hot or cold), using a Mann-Kendall trend test on the Gi* z-scores. It needs at least
        ten bins; up to `EMERGING_MONTHS` months are used. Each monthly Gi* uses `EMERGING_PERMUTATIONS`
        permutations to keep the run short (smallest p = 2 / (permutations + 1)); the analytic preview
        (`permutations=0`) is shown beside it.
        """
    ),
    code(
        """
        last_month = UNTIL.to_period("M")
        first_month = max(last_month - (EMERGING_MONTHS - 1), events["occurred_at"].min().to_period("M"))
        emerging = hotspots.emerging_hotspots(
            events, w, bin="M", permutations=EMERGING_PERMUTATIONS, seed=SEED, start=first_month, end=last_month
        )
        emerging_preview = hotspots.emerging_hotspots(
            events, w, bin="M", permutations=0, start=first_month, end=last_month
        )
        a = emerging.attrs
        print(
            f"{a['n_bins']} monthly bins {a['first_bin']} .. {a['last_bin']}"
            + (" (the last month is partial)" if a["last_bin_partial"] else "")
        )
        pattern_table = pd.DataFrame(
            {
                f"置换 {EMERGING_PERMUTATIONS} permutations + FDR": emerging["pattern"].value_counts(),
                "解析预览 analytic preview": emerging_preview["pattern"].value_counts(),
            }
        )
        pattern_table = pattern_table.reindex(
            [p for p in hotspots.EMERGING_PATTERNS.values() if p in pattern_table.index]
        )
        em_floor = 2 / (EMERGING_PERMUTATIONS + 1)
        print(
            f"with {EMERGING_PERMUTATIONS} permutations the smallest p is {em_floor:.2f}: BH at 90 % over "
            f"{w.n} grids marks nothing in a month unless at least {int(np.ceil(em_floor * w.n / 0.10))} "
            "grids reach it"
        )
        pattern_table.fillna(0).astype(int)
        """
    ),
    code(
        """
        with_pattern = emerging[emerging["pattern"] != hotspots.EMERGING_PATTERNS["no pattern detected"]]
        shown = (
            with_pattern
            if len(with_pattern)
            else emerging_preview[emerging_preview["pattern"] != hotspots.EMERGING_PATTERNS["no pattern detected"]]
        )
        print(
            f"{len(with_pattern)} grids with a pattern under the permutation test"
            + ("" if len(with_pattern) else f"; {len(shown)} in the analytic preview (listed below)")
        )
        shown.join(per_grid["grid_name"]).sort_values("count_total", ascending=False).head(10)[
            ["grid_name", "pattern", "n_hot_bins", "n_cold_bins", "gi_trend_tau", "count_total", "count_trend_tau"]
        ].round(2)
        """
    ),
    md(
        """
        ## 8. 时段分布 Hour × weekday profile

        When incidents happen decides when to patrol. The heat map counts the window's incidents by hour of
        day and weekday (local time, Monday first).
        """
    ),
    code(
        """
        import plotly.graph_objects as go

        profile = heat.time_profile(incidents)
        fig = go.Figure(
            go.Heatmap(
                z=profile.to_numpy(),
                x=list(profile.columns),
                y=[f"周{d}" for d in profile.index],
                colorscale="YlOrRd",
                colorbar={"title": "警情 incidents"},
                hovertemplate="周%{y} %{x}时: %{z}<extra></extra>",
            )
        )
        fig.update_layout(
            title=f"时段分布 incidents by hour and weekday, {START.date()} .. {UNTIL.date()}",
            xaxis_title="小时 hour",
            yaxis_title="星期 weekday",
            yaxis_autorange="reversed",
            height=380,
        )
        fig.show()
        by_hour = profile.sum(axis=0)
        peak_day, peak_hour = profile.stack().idxmax()
        busiest4 = max(range(24), key=lambda h: sum(by_hour[(h + k) % 24] for k in range(4)))
        share4 = sum(by_hour[(busiest4 + k) % 24] for k in range(4)) / by_hour.sum()
        print(
            f"busiest hour slot: 周{peak_day} {peak_hour}:00; busiest 4 hours of the day: "
            f"{busiest4}:00-{(busiest4 + 4) % 24}:00 with {share4:.0%} of incidents (4 of 24 hours = 17%)"
        )
        """
    ),
    md(
        """
        ## 9. 重复与近重复 Repeat and near-repeat incidents

        * **Repeat** (重复警情): an incident at an address (标准地址) where another happened at most
          `REPEAT_DAYS` days before. Addresses with many repeats are candidates for a problem-solving visit.
        * **Near repeat** (近重复): after an incident, are incidents *nearby* more likely *soon*? The Knox
          table counts pairs of incidents by distance band and time lag and compares each cell with what
          independence of space and time would give (ratio > 1: more pairs than expected; * marks p <= 0.05
          from time shuffles). The **half-distance** and **half-life** are the distance and the lag at which
          the excess risk falls to half its value at the closest band: the radius and the time during which
          a follow-up patrol around a new incident pays.
        """
    ),
    code(
        """
        repeats = hotspots.repeat_incidents(incidents, days=REPEAT_DAYS)
        a = repeats.attrs
        print(
            f"incidents with an address: {a['n_incidents']:,} ({a['n_without_address']:,} without); "
            f"repeats within {REPEAT_DAYS} days: {a['n_repeats']:,} ({a['repeat_share']:.1%}) at "
            f"{a['n_repeat_addresses']:,} addresses"
        )
        repeats.head(10).round(2)
        """
    ),
    code(
        """
        located = incidents[incidents.geometry.notna() & ~incidents.geometry.is_empty]
        knox = hotspots.near_repeat(
            located,
            distance_m=NEAR_REPEAT_M,
            days=NEAR_REPEAT_DAYS,
            distance_bands=4,
            time_bands=7,
            permutations=NEAR_REPEAT_PERMUTATIONS,
            seed=SEED,
        )
        knox["cell"] = knox["ratio"].map("{:.2f}".format) + np.where(knox["p_value"] <= 0.05, "*", "")
        table = knox.pivot(index="distance_band", columns="time_band", values="cell")
        table = table.reindex(index=knox["distance_band"].unique(), columns=knox["time_band"].unique())
        a = knox.attrs
        half_d, half_t = a["half_distance_m"], a["half_life_days"]
        closest = knox[(knox["d_lo"] > 0) & (knox["t_lo"] == 0)].nsmallest(1, "d_lo").iloc[0]
        print(
            f"{a['n_events']:,} incidents, {a['n_pairs_close']:,} pairs within {NEAR_REPEAT_M} m and "
            f"{NEAR_REPEAT_DAYS} days; closest cell ({closest['distance_band']}, {closest['time_band']}): "
            f"{int(closest['observed']):,} pairs against {closest['expected']:.0f} expected, ratio "
            f"{closest['ratio']:.2f}, p = {closest['p_value']:.2f}"
        )
        print(
            "half-distance 半衰距离 "
            + (f"{half_d:.0f} m" if np.isfinite(half_d) else "not reached in the table")
            + ", half-life 半衰期 "
            + (f"{half_t:.1f} days" if np.isfinite(half_t) else "not reached in the table")
        )
        table
        """
    ),
    md(
        """
        ## 10. 二八定律 80-20 concentration

        How few places carry most incidents? For addresses and for grids: the fewest units holding 50 % and
        80 % of the incidents, the incidents in the top 20 % of units, and the Gini index (0 = even, near 1 =
        all in one place). Units with no incident are included (every address, every grid), because they
        belong to the population studied.
        """
    ),
    code(
        """
        address_counts = incidents.groupby("address_id").size().reindex(addresses["address_id"], fill_value=0)
        pareto = {
            "地址 addresses": hotspots.pareto_concentration(address_counts),
            "网格 grids": hotspots.pareto_concentration(counts),
        }
        rows = [
            "n_units",
            "total",
            "units_for_50",
            "unit_share_for_50",
            "units_for_80",
            "unit_share_for_80",
            "top20_share",
            "gini",
        ]
        print(f"incidents without an address: {incidents['address_id'].isna().mean():.0%} (not in the address row)")
        pd.DataFrame({name: {k: p.attrs[k] for k in rows} for name, p in pareto.items()}).round(3)
        """
    ),
    md(
        """
        ## 11. 重点关注 What to look at

        Computed from the results above (re-run after changing the data or the parameters).
        """
    ),
    code(
        """
        def names_of(codes, n=3):
            return "、".join(f"{per_grid.at[c, 'grid_name']} ({c})" for c in list(codes)[:n])


        RISING = "new|consecutive|intensifying|persistent"
        hot_grids = gi[gi["gi_bin"] > 0].sort_values("gi_z", ascending=False)
        norm_only = compare[only_norm].sort_values("gi_z", ascending=False)
        h3_hot_cells = h3_gi[h3_gi["gi_bin"] > 0]
        rising = emerging["pattern_en"].str.contains(RISING)
        preview_rising = emerging_preview["pattern_en"].str.contains(RISING)
        lines = []
        if len(hot_grids):
            lines.append(
                f"**热点网格 hot-spot grids** (permutation + FDR): {len(hot_grids)}, "
                f"strongest {names_of(hot_grids.index)}."
            )
        else:
            lines.append("**热点网格 hot-spot grids**: none under permutation + FDR: no cluster of grids stands out.")
        if len(norm_only):
            reasons = "; ".join(f"{r} {n}" for r, n in norm_only["reason"].value_counts().items())
            lone_grids = norm_only[norm_only["reason"].str.startswith("孤立")]
            visit = f"; visit the lone high grids as single problem places: {names_of(lone_grids.index)}"
            lines.append(
                f"The normal approximation alone marks {len(norm_only)} grids ({reasons})"
                + (visit if len(lone_grids) else "")
                + "."
            )
        lines.append(
            f"**H3 热点 hexagons**: {len(h3_hot_cells)} hot cells at resolution {H3_RES} under permutation + FDR "
            f"({int((h3_gi_norm['gi_bin'] > 0).sum())} under the normal approximation); busiest cell "
            f"{cells['h3'].iloc[0]} with {int(cells['count'].iloc[0])} incidents."
        )
        examples = f" (e.g. {names_of(emerging_preview.index[preview_rising])})" if preview_rising.any() else ""
        lines.append(
            f"**时空热点 emerging**: {int(rising.sum())} grids are new, consecutive, intensifying or persistent "
            f"hot spots with {EMERGING_PERMUTATIONS} permutations + FDR, {int(preview_rising.sum())} in the "
            f"analytic preview{examples}."
        )
        lines.append(
            f"**时段 timing**: busiest slot 周{peak_day} {peak_hour}:00; busiest 4 hours "
            f"{busiest4}:00-{(busiest4 + 4) % 24}:00 ({share4:.0%} of incidents)."
        )
        if len(repeats):
            lines.append(
                f"**重复 repeats**: {repeats.attrs['repeat_share']:.0%} of incidents with an address repeat "
                f"within {REPEAT_DAYS} days; most at address {repeats.index[0]} "
                f"({int(repeats['n_repeats'].iloc[0])} repeats)."
            )
        excess = f"ratio {closest['ratio']:.2f}: {closest['ratio'] - 1:+.0%} pairs, p = {closest['p_value']:.2f}"
        if closest["p_value"] > 0.05:
            lines.append(
                f"**近重复 near repeat**: no significant excess in the closest band ({excess}); the data do not "
                "support follow-up patrols around new incidents."
            )
        elif np.isfinite(half_d) and np.isfinite(half_t):
            lines.append(
                f"**近重复 near repeat**: excess in the closest band ({excess}); it halves within about "
                f"{half_d:.0f} m and {half_t:.1f} days: follow-up patrols around a new incident pay within that."
            )
        else:
            lines.append(
                f"**近重复 near repeat**: excess in the closest band ({excess}), but it does not fall to half "
                "within the table; widen NEAR_REPEAT_M / NEAR_REPEAT_DAYS before sizing follow-up patrols."
            )
        pg, pa = pareto["网格 grids"].attrs, pareto["地址 addresses"].attrs
        lines.append(
            f"**二八 concentration**: the top 20% of grids hold {pg['top20_share']:.0%} of incidents; "
            f"{pa['units_for_50']:,} addresses ({pa['unit_share_for_50']:.1%}) hold half of those with an "
            "address."
        )
        display(Markdown("\\n".join(f"- {line}" for line in lines)))
        """,
        "summary",
    ),
]

# --------------------------------------------------------------------------------------------------
# coverage_audit.ipynb

COVERAGE: list[Cell] = [
    md(
        """
        # 覆盖审计 Coverage audit

        本笔记本逐项检查"全覆盖"：网格是否铺满辖区、一格一警绑定、力量配置与负荷、走访覆盖、热点巡逻、视频覆盖、
        派出所可达性，最后给出质态监测指标表（按区县、按分局）和 CompStat 28 天 / 年初至今对比。

        An audit of whether every place, household, person of concern and hotspot is looked after, using
        `geo.coverage` and `geo.kpi`. Each coverage function returns a table (to drill into) and a summary (the
        headline figures). Personal data stay out: persons of concern appear by record id only (no names,
        ID numbers or phone numbers are read).

        **Data folder.** `data.settings.DATA_DIR` (`ONEMAP_DATA`, default `var/demo` under the repository root);
        a tiny demo city is built there first when it holds no `manifest.json`. Periods end on the data's
        last day (`until` in the manifest).
        """
    ),
    SETUP,
    md(
        """
        ## 参数 Parameters
        """
    ),
    code(
        """
        PERIOD_DAYS = 90  # visits and KPIs: the last PERIOD_DAYS days of the data
        PATROL_DAYS = 28  # patrol GPS fixes of the last four weeks
        HOTSPOT_MONTHS = 12  # incidents behind the hotspot cells and their peak hours
        STATION_KM = (1, 3, 5)  # station access bands (straight line)
        PERMUTATIONS, SEED = 999, 0  # Gi* of the hotspot cells

        PERIOD_START = END - pd.Timedelta(days=PERIOD_DAYS)  # half-open [PERIOD_START, END)
        print(f"period 考核期: {PERIOD_START.date()} .. {UNTIL.date()} (the last {PERIOD_DAYS} days of the data)")
        """
    ),
    md(
        """
        ## 1. 读取数据 Load the layers

        Only the columns each step needs. The persons-of-concern layer is read without its name, ID number
        and phone columns, so they cannot leak into an output.
        """
    ),
    code(
        """
        from geo import coverage, heat, hotspots, kpi, units
        from geo.crs import projected_crs_for


        def read(name, columns, geo=False):
            reader = gpd.read_parquet if geo else pd.read_parquet
            return reader(DATA_DIR / f"{name}.parquet", columns=columns)


        def headline(summary, title):
            # the headline figures of a coverage summary as one readable column (lists as counts)
            rows = {}
            for key, value in summary.items():
                if isinstance(value, (list, tuple)):
                    rows[f"{key} (count)"] = f"{len(value):,}"
                elif isinstance(value, (bool, np.bool_, str)):
                    rows[key] = str(value)
                elif isinstance(value, (int, np.integer)):
                    rows[key] = f"{value:,}"
                elif isinstance(value, (float, np.floating)):
                    if key.endswith("_m2"):
                        rows[key.removesuffix("_m2") + " (km²)"] = f"{value / 1e6:,.3f}"
                    elif "share" in key:
                        rows[key] = f"{value:.1%}"
                    else:
                        rows[key] = f"{value:,.2f}"
            return pd.Series(rows, name=title, dtype="str").to_frame()


        grids = read(
            "grids",
            ["grid_code", "grid_name", "grid_type", "district_code", "households", "population", "geometry"],
            geo=True,
        )
        districts = read(
            "districts",
            ["district_code", "district_name", "station_code", "bureau_code", "officer_id", "geometry"],
            geo=True,
        )
        grid_district = read("grid_district", ["grid_code", "district_code"])
        staff = read("staff", ["staff_id", "role", "unit_code", "active"])
        addresses = read("addresses", ["address_id", "grid_code", "households", "created_at", "geometry"], geo=True)
        visits = read("visits", ["target_kind", "target_id", "visited_at"])
        persons_of_concern = read(
            "persons_of_concern",
            ["poc_id", "grid_code", "visit_interval_days", "listed_at", "risk_colour", "category", "officer_id"],
        )
        incidents = read(
            "incidents", ["incident_id", "occurred_at", "category", "valid", "grid_code", "geometry"], geo=True
        )
        patrol = read("patrol_points", ["track_id", "recorded_at", "geometry"], geo=True)
        cameras = read("cameras", ["camera_id", "camera_kind", "range_m", "online", "geometry"], geo=True)
        stations = read("stations", ["station_code", "station", "geometry"], geo=True)
        unit_names = units.unit_table(
            read("admin_units", ["unit_code", "unit_name", "level", "parent_code"]),
            read("police_units", ["unit_code", "unit_name", "level", "parent_code"]),
        )
        gunits = units.grid_units(grids, districts)
        name_of = unit_names.drop_duplicates("unit_code").set_index("unit_code")["unit_name"]
        print(
            f"{len(grids):,} grids, {len(districts):,} 警格, {len(stations):,} stations, "
            f"{len(addresses):,} addresses, "
            f"{len(persons_of_concern):,} persons of concern, {len(incidents):,} incidents"
        )
        """
    ),
    md(
        """
        ## 2. 网格全覆盖 Do the grids tile the jurisdiction?

        Every place must be in exactly one grid (网格全覆盖、无缝隙、不重叠). Gaps (缝隙) leave places nobody
        answers for; overlaps (重叠) make two grids answer for the same place and count its incidents twice.
        Areas are measured in m² in a projected CRS; slivers (碎片) are tiny or thin pieces, usually digitising
        noise rather than real disputes.
        """
    ),
    code(
        """
        tiles, tiling_summary = coverage.tiling(grids)
        display(headline(tiling_summary, "网格铺设 tiling"))
        tiles.head(10)
        """
    ),
    md(
        """
        ## 3. 一格一警 Binding of grids to 警格

        Each grid must belong to exactly one police district (警格) and lie inside its polygon; a 警格 is made
        of one grid (city) or several (countryside). The composition table shows each 警格's grids,
        villages/communities and households.
        """
    ),
    code(
        """
        composition, binding_summary = coverage.binding(grids, districts, grid_district)
        display(headline(binding_summary, "绑定 binding"))
        display(binding_summary["problems"].head(10))
        composition.assign(
            district_name=composition["district_code"].map(districts.set_index("district_code")["district_name"])
        ).sort_values("grids", ascending=False).head(10)
        """
    ),
    md(
        """
        ## 4. 力量配置与负荷 Staffing and workload

        Households per grid, per full-time grid worker (专职网格员) and per community officer (社区民警). The
        Gini coefficient (基尼系数) measures how unevenly the households are spread: 0 = every grid (officer)
        carries the same number, towards 1 = a few carry almost all. Comprehensive grids (综合网格) without a
        full-time worker are vacancies; dedicated grids (专属网格) are staffed by their unit and counted apart.
        """
    ),
    code(
        """
        staffing, staffing_summary = coverage.staffing(grids, staff, districts)
        display(headline(staffing_summary, "力量 staffing"))
        display(Markdown("**户数最多的社区民警 officers with the most households** (ids only)"))
        display(staffing_summary["officers_table"].sort_values("households", ascending=False).head(10))
        staffing[["households", "households_per_full_time", "officer_households"]].describe().T.round(1)
        """
    ),
    md(
        """
        ## 5. 走访覆盖 Visit coverage

        * **Households** (规范化服务走访): the share of households whose address was visited in the period.
        * **Persons of concern** (关注人员, 分色管理): each is due a visit every `visit_interval_days` (red most
          often). As of the data's last day, a person is on time, overdue, or not yet due (listed recently).
          The overdue list below shows record ids only.

        Note: the KPI 关注人员按期走访率 in section 10 is stricter: it counts a person as covered only if they
        were *never* overdue during the whole period, while this audit looks at the state on the last day.
        """
    ),
    code(
        """
        by_grid, visit_summary = coverage.visit_coverage(visits, addresses, persons_of_concern, PERIOD_START, END)
        by_station, _ = coverage.visit_coverage(
            visits, addresses, persons_of_concern, PERIOD_START, END, by="station", units=gunits
        )
        display(headline(visit_summary, "走访 visits"))
        display(pd.Series(visit_summary["overdue_by_colour"], name="逾期 overdue by colour").to_frame())
        display(Markdown("**派出所走访覆盖（最低在前） visit coverage by station, lowest first**"))
        display(by_station.assign(station=by_station["unit_code"].map(name_of)).head(10).round(3))
        display(Markdown("**逾期关注人员（仅编号） overdue persons of concern, ids only**"))
        overdue = visit_summary["overdue"]
        overdue.head(15).assign(
            last_visit=overdue["last_visit"].dt.floor("min"), due_at=overdue["due_at"].dt.floor("min")
        )
        """
    ),
    md(
        """
        ## 6. 热点巡逻覆盖 Patrol coverage of hotspot cells in their peak hours

        一格一策: a hotspot is covered when a patrol passes through it **during its own busiest hours**, not at
        any time. Hotspot cells are the H3 cells that Gi* marks hot (permutation test with FDR, as in the
        hotspot notebook) over the last `HOTSPOT_MONTHS` months of valid incidents; each cell's peak hours are
        its busiest four consecutive hours. The patrol GPS fixes are those of the last `PATROL_DAYS` days.
        If Gi* marks no cell, the 20 busiest cells are used instead, and the output says so.
        """
    ),
    CHOOSE_RES,
    code(
        """
        valid = incidents[incidents["valid"].fillna(False).astype(bool)]
        hot_start = END - pd.DateOffset(months=HOTSPOT_MONTHS)
        recent = valid[(valid["occurred_at"] >= hot_start) & (valid["occurred_at"] < END)].reset_index(drop=True)
        cells = heat.h3_aggregate(recent, H3_RES)
        study_cells = heat.population_to_cells(addresses, H3_RES).index.union(pd.Index(cells["h3"]))
        h3_counts = cells.set_index("h3")["count"].reindex(study_cells, fill_value=0)
        h3_gi = hotspots.getis_ord(h3_counts, hotspots.h3_weights(study_cells), permutations=PERMUTATIONS, seed=SEED)
        hot_cells = h3_gi.index[h3_gi["gi_bin"] > 0].tolist()
        hotspot_basis = "Gi* hot cells (permutation + FDR)"
        if not hot_cells:
            hot_cells = cells["h3"].head(20).tolist()
            hotspot_basis = "no Gi* hot cell: the 20 busiest cells"
        print(f"{len(hot_cells)} hotspot cells at resolution {H3_RES}: {hotspot_basis}")

        fixes = patrol[
            (patrol["recorded_at"] >= END - pd.Timedelta(days=PATROL_DAYS)) & (patrol["recorded_at"] < END)
        ]
        patrolled, patrol_summary = coverage.patrol_coverage(fixes, hot_cells, recent, resolution=H3_RES)
        display(headline(patrol_summary, "巡逻 patrol"))
        patrolled.head(15)
        """
    ),
    md(
        """
        ## 7. 视频覆盖 Camera coverage

        An incident is covered when it lies within the range of an online camera (straight-line distance in
        a projected CRS); the hotspot area covered is the part of the hotspot hexagons inside the cameras'
        range discs. Incidents of the last `HOTSPOT_MONTHS` months.
        """
    ),
    code(
        """
        hotspot_area = heat.h3_polygons(hot_cells)
        per_camera, camera_summary = coverage.camera_coverage(cameras, recent, hotspot_area=hotspot_area)
        display(headline(camera_summary, "视频 cameras"))
        share_by = pd.Series(camera_summary["share_by"], name="按类别覆盖率 share covered by category")
        display(share_by.map("{:.1%}".format).to_frame())
        per_camera.head(10)
        """
    ),
    md(
        """
        ## 8. 派出所可达性 Station access (1 / 3 / 5 km)

        The share of the area and of the residents within X km of a police station, in a **straight line**
        (a lower bound of the road distance; the usual first look without a road network). Residents come
        from the standard addresses' households.
        """
    ),
    code(
        """
        access, access_summary = coverage.station_access(stations, addresses, grids=grids, km=STATION_KM)
        print(
            f"{access_summary['stations']} stations; mean distance of a resident to the nearest station "
            f"{access_summary['mean_distance_km']:.1f} km (straight line)"
        )
        display(access.assign(area_km2=access["area_m2"] / 1e6).drop(columns="area_m2").round(3))
        display(Markdown("**离派出所最远的网格 grids farthest from a station**"))
        far = access_summary["per_grid"].sort_values("nearest_station_km", ascending=False).head(10)
        far = far.assign(
            grid_name=far["grid_code"].map(grids.set_index("grid_code")["grid_name"]), area_km2=far["area_m2"] / 1e6
        )
        far.drop(columns="area_m2").set_index("grid_code").round(2)
        """
    ),
    md(
        """
        ## 9. 质态监测指标 KPI tables by county and by 分局

        Every KPI is counted per grid and summed up the hierarchy before the ratio is taken (definitions in
        `docs/kpi.md`). Periods are inclusive calendar dates: here the last `PERIOD_DAYS` days of the data;
        the year-over-year KPIs compare with the same dates a year earlier. "—" means no denominator (nothing
        to measure). The last column is the target where DOMAIN sets one.
        """
    ),
    code(
        """
        layers = kpi.read_layers(DATA_DIR)
        base = kpi.per_grid_base(layers)
        kpi_start, kpi_end = PERIOD_START.normalize(), UNTIL
        by_county = kpi.kpi_table(base, "county", kpi_start, kpi_end)
        by_bureau = kpi.kpi_table(base, "bureau", kpi_start, kpi_end)


        def kpi_display(table):
            # KPIs as rows, units as columns (by name), then the target
            out = pd.DataFrame(
                {
                    name_of.get(code, code): [kpi.format_value(k, table.at[code, k]) for k in kpi.KPIS]
                    for code in table.index
                },
                index=[f"{spec.zh} {spec.en}" for spec in kpi.KPIS.values()],
            )
            out["目标 target"] = [
                "—" if spec.target is None else kpi.format_value(k, spec.target) for k, spec in kpi.KPIS.items()
            ]
            return out


        print(f"KPI period {by_county.attrs['start']} .. {by_county.attrs['end']}")
        display(Markdown("**按区县 by county**"))
        display(kpi_display(by_county))
        display(Markdown("**按分局 by bureau (分局)**"))
        kpi_display(by_bureau)
        """,
        "kpi-tables",
    ),
    code(
        """
        # ranking against the targets: how many units meet each target, and the worst unit
        def against_target(k, table):
            ranked = kpi.rank(table, k).dropna(subset=["value"])
            if ranked.empty:
                return "—", "—"
            worst = ranked.index[-1]
            return (
                f"{int(ranked['meets_target'].sum())} / {len(ranked)}",
                f"{name_of.get(worst, worst)} {kpi.format_value(k, ranked['value'].iloc[-1])}",
            )


        rows = {}
        for k, spec in kpi.KPIS.items():
            if spec.target is not None:
                county_meet, county_worst = against_target(k, by_county)
                bureau_meet, bureau_worst = against_target(k, by_bureau)
                rows[spec.zh] = {
                    "目标 target": kpi.format_value(k, spec.target),
                    "区县达标 counties meeting": county_meet,
                    "最差区县 worst county": county_worst,
                    "分局达标 bureaus meeting": bureau_meet,
                    "最差分局 worst bureau": bureau_worst,
                }
        targets = pd.DataFrame(rows).T
        display(targets)
        display(Markdown("**分局排名：动态事件流转办结率 bureaus ranked by closure rate within deadline**"))
        ranked_closure = kpi.rank(by_bureau, "closure_rate")
        ranked_closure.assign(unit=ranked_closure.index.map(name_of)).round(2)
        """
    ),
    md(
        """
        ## 10. CompStat 28 天 / 年初至今 28-day and year-to-date comparison

        CompStat-style: valid incidents in the last 28 days against the 28 days before, and year to date
        against the same dates last year, by category for the city and in total per 分局. A change is only
        meaningful against its size: +2 on 3 is +67 %.
        """
    ),
    code(
        """
        city = kpi.compstat(layers["incidents"], None, UNTIL)
        print("windows:", {k: f"{lo} .. {hi}" for k, (lo, hi) in city.attrs.items()})
        display(city.round(1))
        per_bureau = {}
        for code in by_bureau.index:
            unit = units.find_unit(unit_names, code)
            total = kpi.compstat(layers["incidents"], units.grids_of(gunits, unit), UNTIL, by=None)
            per_bureau[unit.name] = total.loc["合计"]
        bureau_compstat = pd.DataFrame(per_bureau).T
        counts_columns = ["d28", "d28_prev", "d28_change", "ytd", "ytd_prev", "ytd_change"]
        bureau_compstat[counts_columns] = bureau_compstat[counts_columns].astype(int)
        bureau_compstat.index.name = "分局 bureau"
        bureau_compstat.round(1)
        """,
        "compstat",
    ),
    md(
        """
        ## 11. 重点关注 What to look at

        Computed from the results above.
        """
    ),
    code(
        """
        lowest = by_station.iloc[0]
        overdue_colours = ", ".join(f"{k} {v}" for k, v in visit_summary["overdue_by_colour"].items())
        lines = [
            f"**网格铺设 tiling**: {tiling_summary['gaps']} gaps ({tiling_summary['gap_m2'] / 1e6:.3f} km²), "
            f"{tiling_summary['overlaps']} overlaps ({tiling_summary['overlap_m2'] / 1e6:.3f} km²).",
            f"**一格一警 binding**: {binding_summary['bound_once']} of {binding_summary['grids']} grids bound to "
            f"exactly one 警格; {binding_summary['outside_district']} lie partly outside their 警格.",
            f"**力量 staffing**: {len(staffing_summary['grids_without_full_time'])} comprehensive grids without "
            f"a full-time worker; household Gini {staffing_summary['gini_grid_households']:.2f} over grids, "
            f"{staffing_summary['gini_officer_households']:.2f} over officers "
            f"({staffing_summary['households_per_officer']:.0f} households per officer on average).",
            f"**走访 visits**: {visit_summary['household_share']:.0%} of households visited in the period; "
            f"{visit_summary['poc_overdue']} persons of concern overdue ({overdue_colours or 'none'}); lowest "
            f"station {name_of.get(lowest['unit_code'], lowest['unit_code'])} ({lowest['household_share']:.0%}).",
            f"**巡逻 patrols**: {patrol_summary['covered']} of {patrol_summary['hotspots']} hotspot cells "
            f"patrolled in their peak hours in the last {PATROL_DAYS} days ({patrol_summary['share']:.0%}).",
            f"**视频 cameras**: {camera_summary['share']:.0%} of incidents within range of an online camera; "
            f"{camera_summary['hotspot_share']:.0%} of the hotspot area.",
            f"**派出所 stations**: {access['population_share'].iloc[-1]:.0%} of residents within "
            f"{access['km'].iloc[-1]:g} km in a straight line.",
        ]
        meeting = targets["区县达标 counties meeting"].str.split(" / ")
        below = targets[meeting.map(lambda p: len(p) == 2 and p[0] != p[1])]
        missed = "; ".join(f"{k} (worst {row['最差区县 worst county']})" for k, row in below.iterrows())
        lines.append(
            f"**指标 KPIs**: {len(below)} of {len(targets)} targeted KPIs are missed by at least one county"
            + (f": {missed}." if len(below) else ".")
        )
        total = city.loc["合计"]
        lines.append(
            f"**CompStat**: {int(total['d28'])} valid incidents in the last 28 days "
            f"({total['d28_change_pct']:+.0f}% on the 28 days before); year to date "
            f"{total['ytd_change_pct']:+.0f}% on last year; largest 28-day rise per 分局: "
            f"{bureau_compstat['d28_change'].idxmax()} ({bureau_compstat['d28_change'].max():+.0f})."
        )
        display(Markdown("\\n".join(f"- {line}" for line in lines)))
        """,
        "summary",
    ),
]

NOTEBOOKS: dict[str, tuple[str, list[Cell]]] = {
    "hotspot_analysis.ipynb": ("hotspot", HOTSPOT),
    "coverage_audit.ipynb": ("coverage", COVERAGE),
}


def build(prefix: str, cells: list[Cell]) -> nbformat.NotebookNode:
    """A notebook of ``cells`` with fixed cell ids (``{prefix}-{name}`` or ``{prefix}-{position}``), no
    outputs, kernel python3."""
    nb = new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for i, (kind, source, name) in enumerate(cells):
        cell = new_markdown_cell(source) if kind == "markdown" else new_code_cell(source)
        cell.id = f"{prefix}-{name or f'{i:02d}'}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def write_all(folder: Path = HERE) -> list[Path]:
    """Write every notebook into ``folder``; returns the paths written."""
    paths = []
    for name, (prefix, cells) in NOTEBOOKS.items():
        path = folder / name
        nbformat.write(build(prefix, cells), path)
        paths.append(path)
    return paths


if __name__ == "__main__":
    for p in write_all(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE):
        print(p)
