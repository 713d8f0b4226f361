"""Tests of geo.hotspots: esda agreement, planted clusters, FDR, emerging patterns, repeats, Pareto."""

from __future__ import annotations

import math

import esda
import geopandas as gpd
import h3
import numpy as np
import pandas as pd
import pymannkendall
import pytest
import shapely
from scipy import stats

from geo import hotspots as hs

# esda announces a future change of its default alternative; the module handles it (see the guard test)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:esda.*")

# --------------------------------------------------------------------------------------------------
# Fixtures: a 10 x 10 lattice of unit squares with a hot and a cold corner
# --------------------------------------------------------------------------------------------------

SIDE = 10
HOT = {(r, c) for r in range(3) for c in range(3)}  # top-left 3 x 3 block
COLD = {(r, c) for r in range(7, 10) for c in range(7, 10)}  # bottom-right 3 x 3 block


def code(r: int, c: int) -> str:
    return f"g{r}{c}"


def lattice_gdf(extra_island: bool = False) -> gpd.GeoDataFrame:
    rows = [(code(r, c), shapely.box(c, -r - 1, c + 1, -r)) for r in range(SIDE) for c in range(SIDE)]
    if extra_island:
        rows.append(("island", shapely.box(50, 50, 51, 51)))
    codes, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame({"grid_code": list(codes)}, geometry=list(geoms), crs="EPSG:3857")


def lattice_values(seed: int = 7) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = {}
    for r in range(SIDE):
        for c in range(SIDE):
            if (r, c) in HOT:
                values[code(r, c)] = 30.0 + rng.normal(0, 1)
            elif (r, c) in COLD:
                values[code(r, c)] = 0.0 + rng.normal(0, 0.5)
            else:
                values[code(r, c)] = 10.0 + rng.normal(0, 2)
    return pd.Series(values, name="value")


@pytest.fixture(scope="module")
def lattice():
    gdf = lattice_gdf()
    return gdf, hs.contiguity_weights(gdf), lattice_values()


@pytest.fixture(scope="module")
def demo_counts(tiny_demo):
    grids = gpd.read_parquet(tiny_demo / "grids.parquet")
    incidents = pd.read_parquet(tiny_demo / "incidents.parquet", columns=["grid_code"])
    counts = incidents["grid_code"].value_counts().reindex(grids["grid_code"], fill_value=0)
    return hs.contiguity_weights(grids), counts


# --------------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------------


def test_contiguity_weights_queen_and_rook_on_lattice():
    gdf = lattice_gdf()
    queen = hs.contiguity_weights(gdf, "queen")
    rook = hs.contiguity_weights(gdf, "rook")
    assert queen.id_order == gdf["grid_code"].tolist()
    assert queen.cardinalities["g00"] == 3 and queen.cardinalities["g55"] == 8
    assert rook.cardinalities["g00"] == 2 and rook.cardinalities["g55"] == 4
    assert set(queen.neighbors["g00"]) == {"g01", "g10", "g11"}
    with pytest.raises(ValueError, match="kind"):
        hs.contiguity_weights(gdf, "bishop")
    with pytest.raises(ValueError, match="unique"):
        hs.contiguity_weights(pd.concat([gdf, gdf.iloc[:1]]))


def test_h3_weights_symmetric_with_six_neighbours_inside():
    center = h3.latlng_to_cell(32.0, 120.9, 8)
    cells = list(h3.grid_disk(center, 3))
    w = hs.h3_weights(cells)
    assert w.id_order == cells
    sparse = w.sparse
    assert (sparse != sparse.T).nnz == 0
    for cell in cells:
        ring = h3.grid_distance(center, cell)
        if ring <= 2:
            assert w.cardinalities[cell] == 6
            assert set(w.neighbors[cell]) == set(h3.grid_ring(cell, 1))
        else:
            assert w.cardinalities[cell] in (3, 4)
    assert hs.h3_weights(cells, k=2).cardinalities[center] == 18
    with pytest.raises(ValueError, match="invalid"):
        hs.h3_weights(["not-a-cell"])


# --------------------------------------------------------------------------------------------------
# Gi* and local Moran
# --------------------------------------------------------------------------------------------------


def test_getis_ord_equals_esda(demo_counts):
    w, counts = demo_counts
    shuffled = counts.sample(frac=1.0, random_state=3)  # values need not follow w.id_order
    ours = hs.getis_ord(shuffled, w, permutations=999, seed=0)
    assert ours.index.equals(shuffled.index)
    direct = esda.G_Local(
        counts.reindex(w.id_order).to_numpy(float),
        w,
        transform="B",
        star=True,
        permutations=999,
        seed=0,
        keep_simulations=False,
    )
    ours = ours.reindex(w.id_order)
    np.testing.assert_allclose(ours["gi_z"], direct.Zs, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["gi_p_sim"], direct.p_sim, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["p_norm"], direct.p_norm, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["p_value"], np.minimum(1, 2 * direct.p_sim), rtol=0, atol=1e-7)


def test_esda_p_sim_is_still_the_directed_one_sided_value(lattice):
    """geo.hotspots doubles esda's p_sim; this fails if esda switches its default alternative."""
    _, w, values = lattice
    y = values.reindex(w.id_order).to_numpy(float)
    g = esda.G_Local(y, w, transform="B", star=True, permutations=199, seed=2, keep_simulations=True)
    larger = (g.rGs >= g.Gs[:, None]).sum(axis=1)
    larger = np.minimum(larger, 199 - larger)
    np.testing.assert_allclose(g.p_sim, (larger + 1) / 200, rtol=0, atol=1e-7)  # esda: float32
    ours = hs.getis_ord(values, w, permutations=199, seed=2).reindex(w.id_order)
    # the two-sided value is the exact fraction, doubled
    np.testing.assert_array_equal(ours["p_value"], np.minimum(1, 2 * (larger + 1) / 200))


def test_local_moran_equals_esda_and_keeps_transform(demo_counts):
    w, counts = demo_counts
    assert w.transform == "O"
    ours = hs.local_moran(counts, w, permutations=999, seed=0).reindex(w.id_order)
    assert w.transform == "O"
    direct = esda.Moran_Local(
        counts.reindex(w.id_order).to_numpy(float), w, transformation="r", permutations=999, seed=0
    )
    np.testing.assert_allclose(ours["I"], direct.Is, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["z"], direct.z_sim, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours["p_sim"], direct.p_sim, rtol=0, atol=1e-9)
    quads = {1: "HH", 2: "LH", 3: "LL", 4: "HL"}
    assert ours["quadrant"].tolist() == [quads[q] for q in direct.q]


def test_getis_ord_classes_on_planted_clusters(lattice):
    _, w, values = lattice
    res = hs.getis_ord(values, w, permutations=9999, seed=1)
    assert res.loc["g11", "class"] == "热点99" and res.loc["g11", "gi_bin"] == 3
    assert res.loc["g88", "class"] == "冷点99" and res.loc["g88", "gi_bin"] == -3
    hot = {k for k, b in res["gi_bin"].items() if b > 0}
    cold = {k for k, b in res["gi_bin"].items() if b < 0}
    near_hot = {code(r, c) for r in range(4) for c in range(4)}
    near_cold = {code(r, c) for r in range(6, 10) for c in range(6, 10)}
    assert hot and hot <= near_hot
    assert cold and cold <= near_cold
    assert res.loc["g55", "class"] == "不显著"
    assert set(res["class"]) <= set(hs.GI_CLASSES.values())
    assert res.attrs["n_hot"] == len(hot) and res.attrs["n_cold"] == len(cold)
    # bins follow the decision p-value and the sign of z
    level = np.select([res["p_fdr"] <= 0.01, res["p_fdr"] <= 0.05, res["p_fdr"] <= 0.10], [3, 2, 1], 0)
    assert (res["gi_bin"].to_numpy() == level * np.sign(res["gi_z"].to_numpy())).all()


def test_local_moran_clusters_on_planted_clusters(lattice):
    _, w, values = lattice
    res = hs.local_moran(values, w, permutations=999, seed=1)
    assert res.loc["g11", "quadrant"] == "HH" and res.loc["g11", "cluster"] == "高高"
    assert res.loc["g88", "quadrant"] == "LL" and res.loc["g88", "cluster"] == "低低"
    significant = set(res.index[res["significant"]])
    near = {code(r, c) for r in range(4) for c in range(4)} | {
        code(r, c) for r in range(6, 10) for c in range(6, 10)
    }
    assert significant and significant <= near
    assert (res.loc[~res["significant"], "cluster"] == "不显著").all()


def test_fdr_reduces_significant_counts(demo_counts):
    w, counts = demo_counts
    raw = hs.getis_ord(counts, w, fdr=False)
    corrected = hs.getis_ord(counts, w, fdr=True)
    raw_sig = set(raw.index[raw["gi_bin"] != 0])
    fdr_sig = set(corrected.index[corrected["gi_bin"] != 0])
    assert len(fdr_sig) < len(raw_sig)
    assert fdr_sig <= raw_sig
    assert corrected.attrs["n_significant"] < corrected.attrs["n_significant_raw"]
    assert (corrected["p_fdr"] >= corrected["p_value"]).all()
    lm_raw = hs.local_moran(counts, w, fdr=False)
    lm_fdr = hs.local_moran(counts, w, fdr=True)
    assert lm_fdr["significant"].sum() < lm_raw["significant"].sum()


def test_bh_adjust_hand_values_and_esda_fdr_decisions():
    np.testing.assert_allclose(hs.bh_adjust([0.01, 0.02, 0.03, 0.04, 0.05]), [0.05] * 5)
    np.testing.assert_allclose(hs.bh_adjust([0.5, 0.001, 0.04]), [0.5, 0.003, 0.06])
    q = hs.bh_adjust([0.2, np.nan, 0.01])
    assert math.isnan(q[1]) and q[2] == pytest.approx(0.02)
    p = np.random.default_rng(5).uniform(size=300) ** 4
    for a in (0.01, 0.05, 0.10):
        assert ((hs.bh_adjust(p) <= a) == (p < esda.fdr(p, a))).all()


def test_islands_are_kept_but_not_testable():
    gdf = lattice_gdf(extra_island=True)
    w = hs.contiguity_weights(gdf)
    assert w.islands == ["island"]
    values = pd.concat([lattice_values(), pd.Series({"island": 100.0})])
    gi = hs.getis_ord(values, w, permutations=99)
    assert gi.loc["island", "class"] == hs.NOT_TESTABLE
    assert not gi.loc["island", "testable"] and math.isnan(gi.loc["island", "gi_z"])
    assert gi.loc["island", "gi_bin"] == 0 and gi["testable"].sum() == 100
    lm = hs.local_moran(values, w, permutations=99)
    assert lm.loc["island", "cluster"] == hs.NOT_TESTABLE and math.isnan(lm.loc["island", "p_value"])
    assert gi.attrs["n_islands"] == 1


def test_analytic_p_values_without_permutations(lattice):
    _, w, values = lattice
    res = hs.getis_ord(values, w, permutations=0)
    assert res.attrs["p_source"] == "norm" and res["gi_p_sim"].isna().all()
    np.testing.assert_allclose(res["p_value"], 2 * stats.norm.sf(np.abs(res["gi_z"])), atol=1e-12)
    assert res.loc["g11", "gi_bin"] == 3 and res.loc["g88", "gi_bin"] == -3
    lm = hs.local_moran(values, w, permutations=0)
    assert lm.loc["g11", "cluster"] == "高高" and lm["p_sim"].isna().all()
    with pytest.raises(ValueError, match="permutations"):
        hs.getis_ord(values, w, permutations=0, p_source="sim")


def test_values_must_match_weights(lattice):
    _, w, values = lattice
    with pytest.raises(ValueError, match="disagree"):
        hs.getis_ord(values.drop("g00"), w)
    with pytest.raises(ValueError, match="NaN"):
        hs.local_moran(values.where(values.index != "g00"), w)


# --------------------------------------------------------------------------------------------------
# Mann-Kendall and emerging hot spots
# --------------------------------------------------------------------------------------------------


def test_mann_kendall_matches_pymannkendall_and_scipy():
    rng = np.random.default_rng(11)
    series = [
        rng.normal(size=24),
        np.arange(12.0) + rng.normal(0, 0.1, 12),
        np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8], dtype=float),  # ties
        np.array([2, 2, 2, 3, 3, 1, 1, 1, 4, 4, 4, 4], dtype=float),  # many ties
        np.full(12, 7.0),  # constant
        np.linspace(5, 1, 12),
    ]
    for x in series:
        ours = hs.mann_kendall(x[None, :]).iloc[0]
        ref = pymannkendall.original_test(x)
        assert ours["s"] == ref.s and ours["var_s"] == pytest.approx(ref.var_s, abs=1e-9)
        assert ours["z"] == pytest.approx(ref.z, abs=1e-12)
        assert ours["p"] == pytest.approx(ref.p, abs=1e-12)
        assert ours["tau"] == pytest.approx(ref.Tau, abs=1e-12)
        if len(np.unique(x)) == len(x):  # without ties Kendall's tau-b against time is the MK tau
            assert ours["tau"] == pytest.approx(stats.kendalltau(np.arange(len(x)), x).statistic)
    many = hs.mann_kendall(pd.DataFrame(np.vstack([series[2], series[5]]), index=["a", "b"]))
    assert list(many.index) == ["a", "b"] and many.loc["b", "tau"] == -1.0


def _series(z_values: dict[str, list[float]], sig_values: dict[str, list[bool]]):
    z = pd.DataFrame(z_values).T
    sig = pd.DataFrame(sig_values).T
    return z, sig


def test_classify_emerging_crafted_series():
    n = 12
    zeros = [0.0] * n
    hot = 3.0
    rows = {
        "new": ([0.0] * 11 + [hot], [False] * 11 + [True]),
        "consecutive": ([0.0] * 9 + [hot] * 3, [False] * 9 + [True] * 3),
        "intensifying": (list(np.linspace(2.5, 6, n)), [True] * n),
        "persistent": ([hot] * n, [True] * n),
        "diminishing": (list(np.linspace(6, 2.5, n)), [True] * n),
        "historical": ([hot] * 11 + [0.0], [True] * 11 + [False]),
        "sporadic": (
            [0, 0, hot, 0, 0, hot, 0, 0, 0, 0, 0, hot],
            [False, False, True, False, False, True, False, False, False, False, False, True],
        ),
        "oscillating": ([0, -hot, -hot, *[0] * 8, hot], [False, True, True, *[False] * 8, True]),
        "ten_of_twelve": ([0.0, 0.0] + [hot] * 10, [False, False] + [True] * 10),
        "new_cold": ([0.0] * 11 + [-hot], [False] * 11 + [True]),
        "intensifying_cold": (list(np.linspace(-2.5, -6, n)), [True] * n),
        "historical_cold": ([-hot] * 11 + [0.0], [True] * 11 + [False]),
        "nothing": (zeros, [False] * n),
        "not_significant_high_z": ([hot] * n, [False] * n),
    }
    z, sig = _series({k: v[0] for k, v in rows.items()}, {k: v[1] for k, v in rows.items()})
    testable = pd.Series(True, index=z.index)
    res = hs.classify_emerging(z, sig, alpha=0.05, testable=testable)
    expected = {
        "new": "新增热点",
        "consecutive": "连续热点",
        "intensifying": "加剧热点",
        "persistent": "持续热点",
        "diminishing": "减弱热点",
        "historical": "历史热点",
        "sporadic": "零星热点",
        "oscillating": "振荡热点",
        "ten_of_twelve": "连续热点",  # 10 of 12 bins is below the 90 % rule, one final run
        "new_cold": "新增冷点",
        "intensifying_cold": "加剧冷点",
        "historical_cold": "历史冷点",
        "nothing": "无模式",
        "not_significant_high_z": "无模式",
    }
    assert res["pattern"].to_dict() == expected
    assert res.loc["intensifying", "gi_trend_tau"] == 1.0 and res.loc["intensifying", "gi_trend_p"] < 0.05
    assert res.loc["persistent", "gi_trend_p"] == 1.0
    assert res.loc["sporadic", "n_hot_bins"] == 3 and res.loc["oscillating", "n_cold_bins"] == 2
    assert res.loc["new_cold", "final_bin"] == -1 and res.loc["historical", "final_bin"] == 0
    assert res.loc["historical", "pattern_en"] == "historical hot spot"
    flipped = hs.classify_emerging(z, sig, testable=testable.where(testable.index != "new", False))
    assert flipped.loc["new", "pattern"] == hs.NOT_TESTABLE


def test_space_time_counts_bins_and_drops():
    events = pd.DataFrame(
        {
            "grid_code": ["a", "a", "b", "zzz", "b", "a"],
            "occurred_at": pd.to_datetime(
                ["2026-01-05", "2026-01-31 23:59", "2026-02-01", "2026-02-02", "2026-03-15", None],
                format="ISO8601",
            ),
        }
    )
    counts = hs.space_time_counts(events, ["a", "b", "c"], bin="M")
    assert [str(p) for p in counts.columns] == ["2026-01", "2026-02", "2026-03"]
    assert counts.loc["a"].tolist() == [2, 0, 0]
    assert counts.loc["b"].tolist() == [0, 1, 1]
    assert counts.loc["c"].tolist() == [0, 0, 0]
    assert counts.attrs["n_dropped"] == 2
    weekly = hs.space_time_counts(events, ["a", "b"], bin="W")
    assert weekly.columns[0].start_time == pd.Timestamp("2026-01-05")  # a Monday
    assert int(weekly.to_numpy().sum()) == 4


def test_emerging_hotspots_finds_new_hot_block():
    gdf = lattice_gdf()
    w = hs.contiguity_weights(gdf)
    rng = np.random.default_rng(3)
    months = pd.period_range("2025-01", "2025-12", freq="M")
    rows = []
    for m_i, month in enumerate(months):
        for r in range(SIDE):
            for c in range(SIDE):
                k = rng.poisson(5) + (40 if (r, c) in HOT and m_i == len(months) - 1 else 0)
                days = rng.integers(0, 28, size=k)
                rows += [(code(r, c), month.start_time + pd.Timedelta(days=int(d))) for d in days]
    events = pd.DataFrame(rows, columns=["grid_code", "occurred_at"])
    res = hs.emerging_hotspots(events, w, bin="M", permutations=999, seed=0)
    assert res.attrs["n_bins"] == 12 and res.attrs["last_bin"] == "2025-12"
    assert res.loc["g11", "pattern"] == "新增热点"
    assert res.loc["g11", "n_hot_bins"] == 1 and res.loc["g11", "final_bin"] == 1
    new = set(res.index[res["pattern"] == "新增热点"])
    assert new <= {code(r, c) for r in range(4) for c in range(4)}
    assert res.loc["g55", "pattern"] == "无模式"
    assert int(res["count_total"].sum()) == len(events)
    assert res.loc["g11", "count_trend_tau"] > 0


# --------------------------------------------------------------------------------------------------
# Repeats, near repeats, concentration
# --------------------------------------------------------------------------------------------------


def test_repeat_incidents_hand_example():
    base = pd.Timestamp("2026-01-01")
    events = pd.DataFrame(
        {
            "address_id": ["A", "A", "A", "A", "B", "B", "C", None],
            "occurred_at": [base + pd.Timedelta(days=d) for d in (0, 5, 50, 52, 0, 100, 3, 1)],
        }
    )
    res = hs.repeat_incidents(events, days=30)
    assert res.index[0] == "A"
    assert res.loc["A", "n_incidents"] == 4 and res.loc["A", "n_repeats"] == 2
    assert res.loc["A", "min_gap_days"] == pytest.approx(2.0)
    assert res.loc["B", "n_repeats"] == 0 and math.isnan(res.loc["C", "min_gap_days"])
    assert res.attrs["n_incidents"] == 7 and res.attrs["n_without_address"] == 1
    assert res.attrs["n_repeats"] == 2 and res.attrs["repeat_share"] == pytest.approx(2 / 7)
    assert res.attrs["share_at_multi_addresses"] == pytest.approx(6 / 7)
    assert hs.repeat_incidents(events, days=1).attrs["n_repeats"] == 0


def _planted_events():
    """A 10 x 10 lattice of events 1 km apart, 8 planted near repeats and 2 decoys (EPSG:4549 m)."""
    x0, y0 = 500_000.0, 3_540_000.0
    base = pd.Timestamp("2026-01-01")
    rows = []
    for k in range(100):
        r, c = divmod(k, 10)
        rows.append((f"L{k}", x0 + 1000 * c, y0 + 1000 * r, base + pd.Timedelta(days=3 * k)))
    planted = []
    for k in (0, 11, 22, 33, 44, 55, 66, 77):
        _, x, y, t = rows[k]
        rows.append((f"P{k}", x + 120, y, t + pd.Timedelta(days=2.5)))
        planted.append((f"L{k}", f"P{k}"))
    _, x, y, t = rows[88]
    rows.append(("far_in_time", x + 120, y, t + pd.Timedelta(days=40)))
    _, x, y, t = rows[99]
    rows.append(("far_in_space", x + 350, y, t + pd.Timedelta(days=1)))
    ids, xs, ys, ts = zip(*rows, strict=True)
    gdf = gpd.GeoDataFrame(
        {"incident_id": ids, "occurred_at": ts}, geometry=gpd.points_from_xy(xs, ys), crs="EPSG:4549"
    )
    return gdf, set(planted)


def test_near_repeat_pairs_finds_planted_pairs_only():
    projected, planted = _planted_events()
    for events in (projected, projected.to_crs("EPSG:4326")):
        pairs = hs.near_repeat_pairs(events, distance_m=200, days=14)
        assert set(zip(pairs["first_id"], pairs["second_id"], strict=True)) == planted
        np.testing.assert_allclose(pairs["distance_m"], 120.0, atol=0.5)
        np.testing.assert_allclose(pairs["lag_days"], 2.5, atol=1e-9)


def test_near_repeat_knox_table():
    events, planted = _planted_events()
    n = len(events)
    res = hs.near_repeat(
        events, distance_m=200, days=14, distance_bands=2, time_bands=2, permutations=199, seed=0
    )
    assert res["observed"].sum() == n * (n - 1) // 2
    assert res["expected"].sum() == pytest.approx(n * (n - 1) / 2)
    cell = res[(res["distance_band"] == "100-200m") & (res["time_band"] == "0-7d")].iloc[0]
    assert cell["observed"] == len(planted)
    assert cell["ratio"] > 10 and cell["p_value"] == pytest.approx(1 / 200)
    assert res.attrs["n_pairs_close"] == len(planted)
    assert res.loc[res["distance_band"] == "同址", "observed"].sum() == 0
    # the Knox expectation is the permutation mean
    beyond = res[res["d_hi"] == np.inf]
    np.testing.assert_allclose(beyond["perm_mean"], beyond["expected"], rtol=0.01)


def test_half_point_interpolation():
    mid = np.array([25.0, 75.0, 125.0, 175.0])
    assert hs._half_point(mid, np.array([2.0, 1.5, 0.5, 0.1])) == pytest.approx(100.0)
    assert math.isnan(hs._half_point(mid, np.array([2.0, 1.9, 1.8, 1.7])))
    assert math.isnan(hs._half_point(mid, np.array([-0.1, 0.0, 0.0, 0.0])))


def test_pareto_concentration_hand_example():
    counts = pd.Series([0, 1, 10, 0, 3, 0, 5, 1, 0, 0], index=[f"u{i}" for i in range(10)])
    res = hs.pareto_concentration(counts)
    assert res.index[:3].tolist() == ["u2", "u6", "u4"]
    np.testing.assert_allclose(res["cum_share"].iloc[:3], [0.5, 0.75, 0.9])
    a = res.attrs
    assert a["units_for_50"] == 1 and a["units_for_80"] == 3
    assert a["unit_share_for_50"] == pytest.approx(0.1) and a["unit_share_for_80"] == pytest.approx(0.3)
    assert a["gini"] == pytest.approx(0.72)
    assert a["top20_share"] == pytest.approx(0.75)
    assert hs.pareto_concentration(pd.Series([4, 4, 4, 4])).attrs["gini"] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        hs.pareto_concentration(pd.Series([1, -1]))


def test_too_few_permutations_are_flagged_and_the_default_suffices(lattice):
    _, w, values = lattice
    with pytest.warns(RuntimeWarning, match="use more permutations"):
        few = hs.getis_ord(values, w, permutations=99, seed=0)
    assert few.attrs["floor_limited"] and few.attrs["n_significant"] == 0
    default = hs.getis_ord(values, w, seed=0)
    assert default.attrs["permutations"] == hs.DEFAULT_PERMUTATIONS
    assert not default.attrs["floor_limited"] and default.attrs["n_significant"] > 0


# ---------------------------------------------------------------------- H3 hot spots of an area
def _square(lon0: float, lat0: float, size: float):
    return shapely.box(lon0, lat0, lon0 + size, lat0 + size)


def test_h3_hotspots_find_a_cluster_among_the_empty_cells_of_the_area():
    rng = np.random.default_rng(3)
    area = _square(120.8, 31.9, 0.25)
    # a thin background over the whole square plus a dense cluster around one point
    lon = np.r_[rng.uniform(120.8, 121.05, 150), rng.normal(120.93, 0.004, 300)]
    lat = np.r_[rng.uniform(31.9, 32.15, 150), rng.normal(32.02, 0.004, 300)]
    pts = pd.DataFrame({"lon": lon, "lat": lat})
    out = hs.h3_hotspots(pts, [area], resolution=8)
    covering = set(h3.geo_to_cells(area, 8))
    assert covering <= set(out["h3"])  # every cell of the area takes part, empty or not
    assert (out["count"] == 0).sum() > len(out) / 2
    assert out["count"].sum() == len(pts)
    centre = h3.latlng_to_cell(32.02, 120.93, 8)
    assert out.set_index("h3").at[centre, "gi_bin"] == 3
    hot = out[out["gi_bin"] > 0]
    # the hot cells are the cluster's: within a few cells of its centre
    assert len(hot) and max(h3.grid_distance(centre, c) for c in hot["h3"]) <= 3


def test_h3_hotspots_find_nothing_in_points_spread_evenly():
    area = _square(120.8, 31.9, 0.25)
    cells = sorted(h3.geo_to_cells(area, 8))
    centres = np.array([h3.cell_to_latlng(c) for c in cells])
    # two points in every cell of the area: no cell stands out
    pts = pd.DataFrame({"lon": np.repeat(centres[:, 1], 2), "lat": np.repeat(centres[:, 0], 2)})
    out = hs.h3_hotspots(pts, [area], resolution=8)
    assert out.attrs["n_significant"] == 0 and (out["gi_bin"] == 0).all()
