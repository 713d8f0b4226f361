"""Tables of the store (数据表): the current schema as SQLAlchemy Core metadata.

One table per layer of :data:`data.schema.LAYERS`, built from the layer's columns, plus the tables the
store adds: the unit tables (``units``, ``grid_units``), the precomputed aggregates (``incident_counts``,
``grid_figures``), the warning and work-order loop (``warnings``, ``work_orders``, ``work_order_events``),
the append-only ``audit_log`` and ``layer_loads`` (data freshness).

This module is the *current* schema, used to build queries. The database is created and upgraded only
by the Alembic migrations in ``data/store/migrations/versions``, which are frozen snapshots; a test
compares a migrated database with this metadata so that the two never drift apart.

Geometry is WKB (``BLOB``) in SQLite, indexed by an R*Tree virtual table ``rtree_<layer>`` keyed by the
row's ``rowid``, and a PostGIS ``geometry(<type>, 4326)`` column with a GiST index in PostgreSQL.
Datetimes are naive local time; SQLite stores them as ``YYYY-MM-DD HH:MM:SS`` text, so that text order is
time order.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import UserDefinedType

from data.schema import LAYERS, Layer

SRID = 4326
#: Columns of ``incident_counts`` with the count per hour of day (h00 … h23).
HOURS = tuple(f"h{h:02d}" for h in range(24))
SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"


class PostGISGeometry(UserDefinedType):
    """A PostGIS ``geometry(<type>, 4326)`` column type (no GeoAlchemy2 needed: the store reads
    geometries with ``ST_AsBinary`` and writes hex EWKB, so no per-value conversion is wanted)."""

    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = SRID) -> None:
        self.geometry_type = geometry_type.upper()
        self.srid = srid

    def get_col_spec(self, **kw) -> str:
        return f"geometry({self.geometry_type},{self.srid})"


def geometry_type(kind: str | None) -> sa.types.TypeEngine:
    """Column type for a layer geometry kind (``Point``, ``Polygon``, ``LineString``)."""
    pg = {"Point": "POINT", "LineString": "GEOMETRY"}.get(kind or "", "GEOMETRY")
    return sa.LargeBinary().with_variant(PostGISGeometry(pg), "postgresql")


DATETIME = sa.DateTime().with_variant(sqlite.DATETIME(storage_format=SQLITE_DATETIME_FORMAT), "sqlite")
DATE = sa.Date()
TYPES: dict[str, sa.types.TypeEngine] = {
    "str": sa.Text(),
    "int": sa.BigInteger(),
    "float": sa.Float(),
    "bool": sa.Boolean(),
    "datetime": DATETIME,
    "date": DATE,
}

#: The time column of each table that has one (date-range filters and time dimensions use it).
TIME_COLUMN: dict[str, str] = {
    "incidents": "occurred_at",
    "disputes": "reported_at",
    "hazards": "found_at",
    "visits": "visited_at",
    "patrol_points": "recorded_at",
    "work_orders": "created_at",
    "addresses": "created_at",
    "persons_of_concern": "listed_at",
    "cameras": "installed_at",
    "population": "registered_at",
    "warnings": "created_at",
    "work_order_events": "at",
    "audit_log": "at",
}

#: Point layers without a ``grid_code`` in their schema get one, found by point-in-polygon on load.
DERIVED_GRID_CODE = ("cameras", "patrol_points")

#: Secondary indexes per layer (besides the key, ``grid_code`` and the time column).
EXTRA_INDEXES: dict[str, tuple[tuple[str, ...], ...]] = {
    "population": (("address_id",),),
    "persons_of_concern": (("person_id",),),
    "visits": (("target_id",), ("staff_id",)),
    "staff": (("unit_code", "role"),),
    "patrol_points": (("track_id", "recorded_at"), ("staff_id",)),
    "incidents": (("address_id",), ("category", "occurred_at")),
    "disputes": (("address_id",),),
    "hazards": (("address_id",),),
    "admin_units": (("level",),),
    "police_units": (("level",),),
    "districts": (("station_code",),),
}

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _layer_columns(lay: Layer) -> list[sa.Column]:
    cols = [
        sa.Column(
            c.name,
            TYPES[c.dtype],
            primary_key=c.name == lay.key,
            nullable=c.name != lay.key and not c.required,
            comment=c.zh,
        )
        for c in lay.columns
    ]
    if lay.name in DERIVED_GRID_CODE:
        cols.append(sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码 (空间匹配)"))
    if lay.geometry:
        cols.append(sa.Column("geometry", geometry_type(lay.geometry), nullable=True, comment="几何"))
    return cols


def _layer_indexes(lay: Layer, names: set[str]) -> list[sa.Index]:
    time_col = TIME_COLUMN.get(lay.name)
    wanted: list[tuple[str, ...]] = []
    if "grid_code" in names and lay.key != "grid_code":
        wanted.append(("grid_code", time_col) if time_col else ("grid_code",))
    if time_col:  # with the key: "newest first" pages read the index in order, no sort
        wanted.append((time_col, lay.key))
    wanted += EXTRA_INDEXES.get(lay.name, ())
    out = []
    for cols in wanted:
        out.append(sa.Index(f"ix_{lay.name}_{'_'.join(cols)}", *cols))
    return out


def _work_order_columns(lay: Layer) -> list[sa.Column]:
    cols = _layer_columns(lay)
    return [
        *cols,
        sa.Column("warning_id", sa.BigInteger(), nullable=True, comment="来源预警"),
        sa.Column("worker_id", sa.Text(), nullable=True, comment="网格员"),
        sa.Column("officer_id", sa.Text(), nullable=True, comment="社区民警"),
        sa.Column("created_by", sa.Text(), nullable=True, comment="派发人"),
        sa.Column("payload", sa.Text(), nullable=True, comment="上报内容 (JSON)"),
        sa.Column("resolution", sa.Text(), nullable=True, comment="审核结论"),
        sa.Column("overdue_at", DATETIME, nullable=True, comment="超期时间"),
        sa.Column("updated_at", DATETIME, nullable=True, comment="更新时间"),
        sa.Column("version", sa.Integer(), nullable=False, server_default="1", comment="行版本 (乐观锁)"),
    ]


def _build_layer_tables() -> dict[str, sa.Table]:
    tables: dict[str, sa.Table] = {}
    for lay in LAYERS.values():
        if lay.name == "work_orders":
            cols = _work_order_columns(lay)
            extra: list = [
                sa.UniqueConstraint("kind", "source_id"),
                sa.Index("ix_work_orders_grid_code_state", "grid_code", "state"),
                sa.Index("ix_work_orders_state_deadline", "state", "deadline"),
                sa.Index("ix_work_orders_worker_id", "worker_id"),
                sa.Index("ix_work_orders_officer_id", "officer_id"),
                sa.Index("ix_work_orders_created_at_order_id", "created_at", "order_id"),
                # push_warnings: "no order for this warning yet" (NOT EXISTS) per warning
                sa.Index("ix_work_orders_warning_id", "warning_id"),
            ]
        else:
            cols = _layer_columns(lay)
            extra = _layer_indexes(lay, {c.name for c in cols})
        tables[lay.name] = sa.Table(lay.name, metadata, *cols, *extra, comment=lay.zh)
    return tables


LAYER_TABLES: dict[str, sa.Table] = _build_layer_tables()

units = sa.Table(
    "units",
    metadata,
    sa.Column("level", sa.Text(), primary_key=True),
    sa.Column("unit_code", sa.Text(), primary_key=True),
    sa.Column("unit_name", sa.Text(), nullable=True),
    sa.Column("hierarchy", sa.Text(), nullable=False),
    sa.Column("parent_code", sa.Text(), nullable=True),
    sa.Index("ix_units_unit_code", "unit_code"),
    sa.Index("ix_units_parent_code", "parent_code"),
    comment="两条层级的单元",
)

#: The units above a grid, in both hierarchies: the columns of ``grid_units`` besides ``grid_code``.
GRID_PARENT_CODES = (
    "village_code",
    "township_code",
    "county_code",
    "city_code",
    "district_code",
    "station_code",
    "bureau_code",
)

grid_units = sa.Table(
    "grid_units",
    metadata,
    sa.Column("grid_code", sa.Text(), primary_key=True),
    *(sa.Column(name, sa.Text(), nullable=True) for name in GRID_PARENT_CODES),
    *(sa.Index(f"ix_grid_units_{name}", name) for name in GRID_PARENT_CODES),
    comment="网格所属各级单元",
)

incident_counts = sa.Table(
    "incident_counts",
    metadata,
    sa.Column("level", sa.Text(), primary_key=True),
    sa.Column("unit_code", sa.Text(), primary_key=True),
    sa.Column("day", DATE, primary_key=True),
    sa.Column("category", sa.Text(), primary_key=True),
    sa.Column("n", sa.Integer(), nullable=False),
    sa.Column("n_valid", sa.Integer(), nullable=False),
    *(sa.Column(h, sa.SmallInteger(), nullable=False, server_default="0") for h in HOURS),
    comment="警情日统计 (单元 × 日 × 类别, 含各时段), 导入时刷新",
    sqlite_with_rowid=False,
)

GRID_FIGURES = (
    "households",
    "population",
    "persons",
    "registered",
    "verified",
    "floating",
    "addresses",
    "persons_of_concern",
    "cameras",
    "cameras_online",
    "full_time_workers",
    "part_time_workers",
    "hazards_open",
    "disputes_open",
)

grid_figures = sa.Table(
    "grid_figures",
    metadata,
    sa.Column("grid_code", sa.Text(), primary_key=True),
    sa.Column("grid_type", sa.Text(), nullable=True),
    *(sa.Column(name, sa.BigInteger(), nullable=False, server_default="0") for name in GRID_FIGURES),
    comment="网格基础数据 (导入时刷新)",
)

warnings = sa.Table(
    "warnings",
    metadata,
    sa.Column("warning_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("model_id", sa.Text(), nullable=False),
    sa.Column("evidence_key", sa.Text(), nullable=False),
    sa.Column("grid_code", sa.Text(), nullable=True),
    sa.Column("district_code", sa.Text(), nullable=True),
    sa.Column("severity", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("evidence_ids", sa.Text(), nullable=True, comment="';'-joined record ids"),
    sa.Column("deadline", DATETIME, nullable=True),
    sa.Column("created_at", DATETIME, nullable=False),
    sa.Column("as_of", DATE, nullable=True),
    sa.UniqueConstraint("model_id", "evidence_key"),
    sa.Index("ix_warnings_grid_code_created_at", "grid_code", "created_at"),
    sa.Index("ix_warnings_model_id_created_at", "model_id", "created_at"),
    sa.Index("ix_warnings_created_at_warning_id", "created_at", "warning_id"),
    comment="预警",
)

work_orders = LAYER_TABLES["work_orders"]

work_order_events = sa.Table(
    "work_order_events",
    metadata,
    sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("order_id", sa.Text(), sa.ForeignKey("work_orders.order_id"), nullable=False),
    sa.Column("from_state", sa.Text(), nullable=True),
    sa.Column("to_state", sa.Text(), nullable=False),
    sa.Column("actor", sa.Text(), nullable=False),
    sa.Column("at", DATETIME, nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("version", sa.Integer(), nullable=False, comment="工单版本 (变更后)"),
    sa.Column("client_id", sa.Text(), nullable=True, comment="客户端请求号 (retries of this move)"),
    sa.Index("ix_work_order_events_order_id_event_id", "order_id", "event_id"),
    sa.Index("ix_work_order_events_at", "at"),
    comment="工单流转记录 (只增不改, 全过程留痕)",
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("at", DATETIME, nullable=False),
    sa.Column("actor", sa.Text(), nullable=False),
    sa.Column("action", sa.Text(), nullable=False),
    sa.Column("target", sa.Text(), nullable=True),
    sa.Column("address", sa.Text(), nullable=True, comment="client address"),
    sa.Column("reason", sa.Text(), nullable=True),
    sa.Column("detail", sa.Text(), nullable=True, comment="JSON"),
    sa.Index("ix_audit_log_at", "at"),
    sa.Index("ix_audit_log_actor_at", "actor", "at"),
    comment="审计日志 (只增不改)",
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("user_id", sa.Text(), primary_key=True, comment="登录名"),
    sa.Column("name", sa.Text(), nullable=True, comment="姓名"),
    sa.Column("role", sa.Text(), nullable=False, comment="角色 (data.access.ROLES)"),
    sa.Column("unit_code", sa.Text(), nullable=True, comment="管辖单元 (either hierarchy)"),
    sa.Column("staff_id", sa.Text(), nullable=True, comment="对应的网格员/民警"),
    sa.Column("password_hash", sa.Text(), nullable=False, comment="scrypt, salted"),
    sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("locked_until", DATETIME, nullable=True),
    sa.Column("created_at", DATETIME, nullable=False),
    sa.Column("last_login_at", DATETIME, nullable=True),
    comment="用户 (本地账号)",
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("session_hash", sa.Text(), primary_key=True, comment="SHA-256 of the cookie's session id"),
    sa.Column("user_id", sa.Text(), nullable=False),
    sa.Column("created_at", DATETIME, nullable=False),
    sa.Column("last_seen_at", DATETIME, nullable=False, comment="written at most once a minute"),
    sa.Column("revoked_at", DATETIME, nullable=True, comment="log-out, disable, password change"),
    sa.Column("via", sa.Text(), nullable=True, comment="password, sso"),
    sa.Column("address", sa.Text(), nullable=True, comment="client address at log-in"),
    sa.Index("ix_sessions_user_id", "user_id"),
    sa.Index("ix_sessions_created_at", "created_at"),
    comment="登录会话 (server-side sessions, revocable)",
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    sa.Column("account", sa.Text(), primary_key=True, comment="login name as typed (known or not)"),
    sa.Column("address", sa.Text(), primary_key=True, comment="client address; '*' = the whole account"),
    sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("last_at", DATETIME, nullable=False),
    sa.Column("locked_until", DATETIME, nullable=True, comment="pair locked / account's next check"),
    sa.Index("ix_login_failures_account_last_at", "account", "last_at"),
    comment="登录失败计数 (lock-out per account and address)",
)

layer_loads = sa.Table(
    "layer_loads",
    metadata,
    sa.Column("layer", sa.Text(), primary_key=True),
    sa.Column("rows", sa.BigInteger(), nullable=False),
    sa.Column("source", sa.Text(), nullable=True),
    sa.Column("loaded_at", DATETIME, nullable=False),
    sa.Column("seconds", sa.Float(), nullable=True),
    comment="图层导入记录 (数据新鲜度)",
)

#: Tables whose rows can never be updated or deleted (database triggers refuse it).
APPEND_ONLY = ("work_order_events", "audit_log")

#: Every table a query may name, by name.
TABLES: dict[str, sa.Table] = dict(metadata.tables)


def table(name: str) -> sa.Table:
    """The table called ``name``; ``KeyError`` naming the known tables."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {', '.join(sorted(TABLES))}") from None


def geometry_layers() -> dict[str, str]:
    """Layer name → geometry kind for layers with a geometry column."""
    return {lay.name: lay.geometry for lay in LAYERS.values() if lay.geometry}
