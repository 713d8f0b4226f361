"""Initial schema: the layer tables, units, aggregates, warnings, work orders and their trace, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

A frozen snapshot (generated from ``data/store/tables.py`` with Alembic autogenerate, then edited): later
schema changes go into new revisions. Besides the tables it creates, per backend, the spatial indexes (an
R*Tree virtual table ``rtree_<layer>`` keyed by ``rowid`` in SQLite, a GiST index in PostGIS) and the
triggers that make ``work_order_events`` and ``audit_log`` append-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import sqlite
from sqlalchemy.types import UserDefinedType

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d"

GEOMETRY_TABLES = (
    "admin_units",
    "grids",
    "police_units",
    "districts",
    "stations",
    "addresses",
    "persons_of_concern",
    "incidents",
    "disputes",
    "hazards",
    "patrol_points",
    "cameras",
)
APPEND_ONLY = ("work_order_events", "audit_log")


class _Geometry(UserDefinedType):
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY", srid: int = 4326) -> None:
        self.geometry_type = geometry_type
        self.srid = srid

    def get_col_spec(self, **kw) -> str:
        return f"geometry({self.geometry_type},{self.srid})"


def _spatial_and_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in GEOMETRY_TABLES:
            op.execute(f"CREATE VIRTUAL TABLE rtree_{name} USING rtree(id, minx, maxx, miny, maxy)")
        for name in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {name}_no_{verb.lower()} BEFORE {verb} ON {name} "
                    f"BEGIN SELECT RAISE(ABORT, '{name} is append-only'); END"
                )
    elif dialect == "postgresql":
        for name in GEOMETRY_TABLES:
            op.execute(f"CREATE INDEX ix_{name}_geometry ON {name} USING gist (geometry)")
        op.execute(
            "CREATE FUNCTION onemap_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
        for name in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION onemap_append_only()"
            )


def _drop_spatial_and_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name in GEOMETRY_TABLES:
            op.execute(f"DROP TABLE IF EXISTS rtree_{name}")
    elif dialect == "postgresql":
        for name in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {name}_append_only ON {name}")
        op.execute("DROP FUNCTION IF EXISTS onemap_append_only()")


def upgrade() -> None:
    op.create_table(
        "addresses",
        sa.Column("address_id", sa.Text(), nullable=False, comment="地址编码"),
        sa.Column("address", sa.Text(), nullable=False, comment="标准地址"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码"),
        sa.Column("building_kind", sa.Text(), nullable=True, comment="建筑类别"),
        sa.Column("households", sa.BigInteger(), nullable=False, comment="户数"),
        sa.Column("created_at", sa.Date(), nullable=False, comment="采集日期"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("address_id", name=op.f("pk_addresses")),
        comment="标准地址",
    )
    op.create_index(
        "ix_addresses_created_at_address_id", "addresses", ["created_at", "address_id"], unique=False
    )
    op.create_index(
        "ix_addresses_grid_code_created_at", "addresses", ["grid_code", "created_at"], unique=False
    )

    op.create_table(
        "admin_units",
        sa.Column("unit_code", sa.Text(), nullable=False, comment="区划代码"),
        sa.Column("unit_name", sa.Text(), nullable=False, comment="区划名称"),
        sa.Column("level", sa.Text(), nullable=False, comment="层级"),
        sa.Column("parent_code", sa.Text(), nullable=True, comment="上级代码"),
        sa.Column("urban", sa.Boolean(), nullable=False, comment="城区"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("GEOMETRY"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("unit_code", name=op.f("pk_admin_units")),
        comment="行政区划",
    )
    op.create_index("ix_admin_units_level", "admin_units", ["level"], unique=False)

    op.create_table(
        "audit_log",
        sa.Column("audit_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
        ),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=True),
        sa.Column("address", sa.Text(), nullable=True, comment="client address"),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True, comment="JSON"),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_log")),
        comment="审计日志 (只增不改)",
    )
    op.create_index("ix_audit_log_actor_at", "audit_log", ["actor", "at"], unique=False)
    op.create_index("ix_audit_log_at", "audit_log", ["at"], unique=False)

    op.create_table(
        "cameras",
        sa.Column("camera_id", sa.Text(), nullable=False, comment="设备编号"),
        sa.Column("camera_kind", sa.Text(), nullable=False, comment="设备类别"),
        sa.Column("range_m", sa.Float(), nullable=False, comment="覆盖半径(米)"),
        sa.Column("online", sa.Boolean(), nullable=False, comment="在线"),
        sa.Column("installed_at", sa.Date(), nullable=False, comment="安装日期"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码 (空间匹配)"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_cameras")),
        comment="感知设备",
    )
    op.create_index(
        "ix_cameras_grid_code_installed_at", "cameras", ["grid_code", "installed_at"], unique=False
    )
    op.create_index(
        "ix_cameras_installed_at_camera_id", "cameras", ["installed_at", "camera_id"], unique=False
    )

    op.create_table(
        "disputes",
        sa.Column("dispute_id", sa.Text(), nullable=False, comment="纠纷编号"),
        sa.Column(
            "reported_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="登记时间",
        ),
        sa.Column("dispute_type", sa.Text(), nullable=False, comment="纠纷类型"),
        sa.Column("status", sa.Text(), nullable=False, comment="状态"),
        sa.Column("level", sa.Text(), nullable=False, comment="等级"),
        sa.Column("party_names", sa.Text(), nullable=True, comment="当事人"),
        sa.Column("person_ids", sa.Text(), nullable=True, comment="当事人编号"),
        sa.Column("violence_history", sa.Boolean(), nullable=True, comment="有暴力倾向"),
        sa.Column("address_id", sa.Text(), nullable=True, comment="地址编码"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码"),
        sa.Column(
            "resolved_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=True,
            comment="化解时间",
        ),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("dispute_id", name=op.f("pk_disputes")),
        comment="矛盾纠纷",
    )
    op.create_index("ix_disputes_address_id", "disputes", ["address_id"], unique=False)
    op.create_index(
        "ix_disputes_grid_code_reported_at", "disputes", ["grid_code", "reported_at"], unique=False
    )
    op.create_index(
        "ix_disputes_reported_at_dispute_id", "disputes", ["reported_at", "dispute_id"], unique=False
    )

    op.create_table(
        "districts",
        sa.Column("district_code", sa.Text(), nullable=False, comment="警格编码"),
        sa.Column("district_name", sa.Text(), nullable=False, comment="警务区名称"),
        sa.Column("station_code", sa.Text(), nullable=False, comment="派出所编码"),
        sa.Column("station", sa.Text(), nullable=True, comment="派出所"),
        sa.Column("bureau_code", sa.Text(), nullable=True, comment="分局编码"),
        sa.Column("officer_id", sa.Text(), nullable=True, comment="社区民警编号"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("GEOMETRY"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("district_code", name=op.f("pk_districts")),
        comment="警格",
    )
    op.create_index("ix_districts_station_code", "districts", ["station_code"], unique=False)

    op.create_table(
        "grid_district",
        sa.Column("grid_code", sa.Text(), nullable=False, comment="网格编码"),
        sa.Column("district_code", sa.Text(), nullable=False, comment="警格编码"),
        sa.PrimaryKeyConstraint("grid_code", name=op.f("pk_grid_district")),
        comment="网格警格绑定",
    )
    op.create_table(
        "grid_figures",
        sa.Column("grid_code", sa.Text(), nullable=False),
        sa.Column("grid_type", sa.Text(), nullable=True),
        sa.Column("households", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("population", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("persons", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("registered", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("verified", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("floating", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("addresses", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("persons_of_concern", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cameras", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("cameras_online", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("full_time_workers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("part_time_workers", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("hazards_open", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("disputes_open", sa.BigInteger(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("grid_code", name=op.f("pk_grid_figures")),
        comment="网格基础数据 (导入时刷新)",
    )
    op.create_table(
        "grid_units",
        sa.Column("grid_code", sa.Text(), nullable=False),
        sa.Column("village_code", sa.Text(), nullable=True),
        sa.Column("township_code", sa.Text(), nullable=True),
        sa.Column("county_code", sa.Text(), nullable=True),
        sa.Column("city_code", sa.Text(), nullable=True),
        sa.Column("district_code", sa.Text(), nullable=True),
        sa.Column("station_code", sa.Text(), nullable=True),
        sa.Column("bureau_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("grid_code", name=op.f("pk_grid_units")),
        comment="网格所属各级单元",
    )
    op.create_index("ix_grid_units_bureau_code", "grid_units", ["bureau_code"], unique=False)
    op.create_index("ix_grid_units_city_code", "grid_units", ["city_code"], unique=False)
    op.create_index("ix_grid_units_county_code", "grid_units", ["county_code"], unique=False)
    op.create_index("ix_grid_units_district_code", "grid_units", ["district_code"], unique=False)
    op.create_index("ix_grid_units_station_code", "grid_units", ["station_code"], unique=False)
    op.create_index("ix_grid_units_township_code", "grid_units", ["township_code"], unique=False)
    op.create_index("ix_grid_units_village_code", "grid_units", ["village_code"], unique=False)

    op.create_table(
        "grids",
        sa.Column("grid_code", sa.Text(), nullable=False, comment="网格编码"),
        sa.Column("grid_name", sa.Text(), nullable=False, comment="网格名称"),
        sa.Column("grid_type", sa.Text(), nullable=False, comment="网格类型"),
        sa.Column("dedicated_kind", sa.Text(), nullable=True, comment="专属类别"),
        sa.Column("village_code", sa.Text(), nullable=False, comment="村居编码"),
        sa.Column("township_code", sa.Text(), nullable=True, comment="乡镇街道编码"),
        sa.Column("county_code", sa.Text(), nullable=True, comment="区县编码"),
        sa.Column("district_code", sa.Text(), nullable=True, comment="警格编码"),
        sa.Column("households", sa.BigInteger(), nullable=False, comment="户数"),
        sa.Column("population", sa.BigInteger(), nullable=False, comment="人口数"),
        sa.Column("full_time_workers", sa.BigInteger(), nullable=True, comment="专职网格员数"),
        sa.Column("part_time_workers", sa.BigInteger(), nullable=True, comment="兼职网格员数"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("GEOMETRY"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("grid_code", name=op.f("pk_grids")),
        comment="网格",
    )
    op.create_table(
        "hazards",
        sa.Column("hazard_id", sa.Text(), nullable=False, comment="隐患编号"),
        sa.Column("hazard_type", sa.Text(), nullable=False, comment="隐患类型"),
        sa.Column("level", sa.Text(), nullable=False, comment="隐患等级"),
        sa.Column("found_by", sa.Text(), nullable=True, comment="发现人"),
        sa.Column("found_at", sa.Date(), nullable=False, comment="发现日期"),
        sa.Column("deadline", sa.Date(), nullable=False, comment="整改期限"),
        sa.Column("rectified_at", sa.Date(), nullable=True, comment="整改日期"),
        sa.Column("address_id", sa.Text(), nullable=True, comment="地址编码"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("hazard_id", name=op.f("pk_hazards")),
        comment="安全隐患",
    )
    op.create_index("ix_hazards_address_id", "hazards", ["address_id"], unique=False)
    op.create_index("ix_hazards_found_at_hazard_id", "hazards", ["found_at", "hazard_id"], unique=False)
    op.create_index("ix_hazards_grid_code_found_at", "hazards", ["grid_code", "found_at"], unique=False)

    op.create_table(
        "incident_counts",
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("n_valid", sa.Integer(), nullable=False),
        *(sa.Column(f"h{h:02d}", sa.SmallInteger(), server_default="0", nullable=False) for h in range(24)),
        sa.PrimaryKeyConstraint("level", "unit_code", "day", "category", name=op.f("pk_incident_counts")),
        comment="警情日统计 (单元 × 日 × 类别, 含各时段), 导入时刷新",
        sqlite_with_rowid=False,
    )
    op.create_table(
        "incidents",
        sa.Column("incident_id", sa.Text(), nullable=False, comment="警情编号"),
        sa.Column(
            "occurred_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="发生时间",
        ),
        sa.Column("category", sa.Text(), nullable=False, comment="警情类别"),
        sa.Column("valid", sa.Boolean(), nullable=True, comment="有效警情"),
        sa.Column("address_id", sa.Text(), nullable=True, comment="地址编码"),
        sa.Column("caller_phone", sa.Text(), nullable=True, comment="报警电话"),
        sa.Column("person_ids", sa.Text(), nullable=True, comment="涉事人员"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incidents")),
        comment="警情",
    )
    op.create_index("ix_incidents_address_id", "incidents", ["address_id"], unique=False)
    op.create_index(
        "ix_incidents_grid_code_occurred_at", "incidents", ["grid_code", "occurred_at"], unique=False
    )
    op.create_index(
        "ix_incidents_occurred_at_incident_id", "incidents", ["occurred_at", "incident_id"], unique=False
    )

    op.create_table(
        "layer_loads",
        sa.Column("layer", sa.Text(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column(
            "loaded_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
        ),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("layer", name=op.f("pk_layer_loads")),
        comment="图层导入记录 (数据新鲜度)",
    )
    op.create_table(
        "patrol_points",
        sa.Column("fix_id", sa.Text(), nullable=False, comment="定位编号"),
        sa.Column("track_id", sa.Text(), nullable=False, comment="轨迹编号"),
        sa.Column("staff_id", sa.Text(), nullable=False, comment="巡逻人员"),
        sa.Column(
            "recorded_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="定位时间",
        ),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码 (空间匹配)"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("fix_id", name=op.f("pk_patrol_points")),
        comment="巡逻轨迹",
    )
    op.create_index(
        "ix_patrol_points_grid_code_recorded_at", "patrol_points", ["grid_code", "recorded_at"], unique=False
    )
    op.create_index(
        "ix_patrol_points_recorded_at_fix_id", "patrol_points", ["recorded_at", "fix_id"], unique=False
    )
    op.create_index("ix_patrol_points_staff_id", "patrol_points", ["staff_id"], unique=False)
    op.create_index(
        "ix_patrol_points_track_id_recorded_at", "patrol_points", ["track_id", "recorded_at"], unique=False
    )

    op.create_table(
        "persons_of_concern",
        sa.Column("poc_id", sa.Text(), nullable=False, comment="关注人员编号"),
        sa.Column("person_id", sa.Text(), nullable=True, comment="人员编号"),
        sa.Column("name", sa.Text(), nullable=False, comment="姓名"),
        sa.Column("id_number", sa.Text(), nullable=False, comment="身份证号"),
        sa.Column("phone", sa.Text(), nullable=True, comment="联系电话"),
        sa.Column("category", sa.Text(), nullable=False, comment="类别"),
        sa.Column("risk_colour", sa.Text(), nullable=False, comment="风险等级"),
        sa.Column("officer_id", sa.Text(), nullable=True, comment="责任民警"),
        sa.Column("visit_interval_days", sa.BigInteger(), nullable=False, comment="走访周期(天)"),
        sa.Column("address_id", sa.Text(), nullable=True, comment="居住地址编码"),
        sa.Column("grid_code", sa.Text(), nullable=True, comment="网格编码"),
        sa.Column("listed_at", sa.Date(), nullable=False, comment="列管日期"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("poc_id", name=op.f("pk_persons_of_concern")),
        comment="关注人员",
    )
    op.create_index(
        "ix_persons_of_concern_grid_code_listed_at",
        "persons_of_concern",
        ["grid_code", "listed_at"],
        unique=False,
    )
    op.create_index(
        "ix_persons_of_concern_listed_at_poc_id", "persons_of_concern", ["listed_at", "poc_id"], unique=False
    )
    op.create_index("ix_persons_of_concern_person_id", "persons_of_concern", ["person_id"], unique=False)

    op.create_table(
        "police_units",
        sa.Column("unit_code", sa.Text(), nullable=False, comment="机构代码"),
        sa.Column("unit_name", sa.Text(), nullable=False, comment="机构名称"),
        sa.Column("level", sa.Text(), nullable=False, comment="层级"),
        sa.Column("parent_code", sa.Text(), nullable=True, comment="上级机构代码"),
        sa.Column("county_code", sa.Text(), nullable=True, comment="区县编码"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("GEOMETRY"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("unit_code", name=op.f("pk_police_units")),
        comment="公安机构",
    )
    op.create_index("ix_police_units_level", "police_units", ["level"], unique=False)

    op.create_table(
        "population",
        sa.Column("person_id", sa.Text(), nullable=False, comment="人员编号"),
        sa.Column("name", sa.Text(), nullable=False, comment="姓名"),
        sa.Column("id_number", sa.Text(), nullable=False, comment="身份证号"),
        sa.Column("phone", sa.Text(), nullable=True, comment="联系电话"),
        sa.Column("gender", sa.Text(), nullable=False, comment="性别"),
        sa.Column("birth_date", sa.Date(), nullable=False, comment="出生日期"),
        sa.Column("resident_kind", sa.Text(), nullable=False, comment="人口类别"),
        sa.Column("address_id", sa.Text(), nullable=False, comment="居住地址编码"),
        sa.Column("grid_code", sa.Text(), nullable=False, comment="网格编码"),
        sa.Column("registered", sa.Boolean(), nullable=False, comment="已登记"),
        sa.Column("verified", sa.Boolean(), nullable=False, comment="信息准确"),
        sa.Column("origin", sa.Text(), nullable=True, comment="户籍地"),
        sa.Column("registered_at", sa.Date(), nullable=True, comment="登记日期"),
        sa.Column("permit_expiry", sa.Date(), nullable=True, comment="居住证有效期至"),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_population")),
        comment="实有人口",
    )
    op.create_index("ix_population_address_id", "population", ["address_id"], unique=False)
    op.create_index(
        "ix_population_grid_code_registered_at", "population", ["grid_code", "registered_at"], unique=False
    )
    op.create_index(
        "ix_population_registered_at_person_id", "population", ["registered_at", "person_id"], unique=False
    )

    op.create_table(
        "staff",
        sa.Column("staff_id", sa.Text(), nullable=False, comment="人员编号"),
        sa.Column("name", sa.Text(), nullable=False, comment="姓名"),
        sa.Column("role", sa.Text(), nullable=False, comment="角色"),
        sa.Column("unit_code", sa.Text(), nullable=False, comment="所属单元"),
        sa.Column("phone", sa.Text(), nullable=False, comment="联系电话"),
        sa.Column("id_number", sa.Text(), nullable=True, comment="身份证号"),
        sa.Column("active", sa.Boolean(), nullable=False, comment="在岗"),
        sa.PrimaryKeyConstraint("staff_id", name=op.f("pk_staff")),
        comment="人员力量",
    )
    op.create_index("ix_staff_unit_code_role", "staff", ["unit_code", "role"], unique=False)

    op.create_table(
        "stations",
        sa.Column("station_code", sa.Text(), nullable=False, comment="派出所编码"),
        sa.Column("station", sa.Text(), nullable=False, comment="派出所"),
        sa.Column("bureau_code", sa.Text(), nullable=False, comment="分局编码"),
        sa.Column("county_code", sa.Text(), nullable=True, comment="区县编码"),
        sa.Column(
            "geometry",
            sa.LargeBinary().with_variant(_Geometry("POINT"), "postgresql"),
            nullable=True,
            comment="几何",
        ),
        sa.PrimaryKeyConstraint("station_code", name=op.f("pk_stations")),
        comment="派出所",
    )
    op.create_table(
        "units",
        sa.Column("level", sa.Text(), nullable=False),
        sa.Column("unit_code", sa.Text(), nullable=False),
        sa.Column("unit_name", sa.Text(), nullable=True),
        sa.Column("hierarchy", sa.Text(), nullable=False),
        sa.Column("parent_code", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("level", "unit_code", name=op.f("pk_units")),
        comment="两条层级的单元",
    )
    op.create_index("ix_units_parent_code", "units", ["parent_code"], unique=False)
    op.create_index("ix_units_unit_code", "units", ["unit_code"], unique=False)

    op.create_table(
        "visits",
        sa.Column("visit_id", sa.Text(), nullable=False, comment="走访编号"),
        sa.Column("staff_id", sa.Text(), nullable=False, comment="走访人"),
        sa.Column("target_kind", sa.Text(), nullable=False, comment="走访对象类别"),
        sa.Column("target_id", sa.Text(), nullable=False, comment="走访对象"),
        sa.Column(
            "visited_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="走访时间",
        ),
        sa.Column("grid_code", sa.Text(), nullable=False, comment="网格编码"),
        sa.PrimaryKeyConstraint("visit_id", name=op.f("pk_visits")),
        comment="走访记录",
    )
    op.create_index("ix_visits_grid_code_visited_at", "visits", ["grid_code", "visited_at"], unique=False)
    op.create_index("ix_visits_staff_id", "visits", ["staff_id"], unique=False)
    op.create_index("ix_visits_target_id", "visits", ["target_id"], unique=False)
    op.create_index("ix_visits_visited_at_visit_id", "visits", ["visited_at", "visit_id"], unique=False)

    op.create_table(
        "warnings",
        sa.Column("warning_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("model_id", sa.Text(), nullable=False),
        sa.Column("evidence_key", sa.Text(), nullable=False),
        sa.Column("grid_code", sa.Text(), nullable=True),
        sa.Column("district_code", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("evidence_ids", sa.Text(), nullable=True, comment="';'-joined record ids"),
        sa.Column(
            "deadline",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
        ),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("warning_id", name=op.f("pk_warnings")),
        sa.UniqueConstraint("model_id", "evidence_key", name=op.f("uq_warnings_model_id_evidence_key")),
        comment="预警",
    )
    op.create_index("ix_warnings_grid_code_created_at", "warnings", ["grid_code", "created_at"], unique=False)
    op.create_index("ix_warnings_model_id_created_at", "warnings", ["model_id", "created_at"], unique=False)

    op.create_table(
        "work_orders",
        sa.Column("order_id", sa.Text(), nullable=False, comment="工单编号"),
        sa.Column("kind", sa.Text(), nullable=False, comment="工单类别"),
        sa.Column("source_id", sa.Text(), nullable=True, comment="来源记录"),
        sa.Column("grid_code", sa.Text(), nullable=False, comment="网格编码"),
        sa.Column("district_code", sa.Text(), nullable=True, comment="警格编码"),
        sa.Column("state", sa.Text(), nullable=False, comment="状态"),
        sa.Column("severity", sa.Text(), nullable=False, comment="紧急程度"),
        sa.Column(
            "created_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="派发时间",
        ),
        sa.Column(
            "deadline",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
            comment="办理时限",
        ),
        sa.Column(
            "closed_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=True,
            comment="办结时间",
        ),
        sa.Column("summary", sa.Text(), nullable=False, comment="事由"),
        sa.Column("warning_id", sa.BigInteger(), nullable=True, comment="来源预警"),
        sa.Column("worker_id", sa.Text(), nullable=True, comment="网格员"),
        sa.Column("officer_id", sa.Text(), nullable=True, comment="社区民警"),
        sa.Column("created_by", sa.Text(), nullable=True, comment="派发人"),
        sa.Column("payload", sa.Text(), nullable=True, comment="上报内容 (JSON)"),
        sa.Column("resolution", sa.Text(), nullable=True, comment="审核结论"),
        sa.Column(
            "overdue_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=True,
            comment="超期时间",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=True,
            comment="更新时间",
        ),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False, comment="行版本 (乐观锁)"),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_work_orders")),
        sa.UniqueConstraint("kind", "source_id", name=op.f("uq_work_orders_kind_source_id")),
        comment="工单",
    )
    op.create_index(
        "ix_work_orders_created_at_order_id", "work_orders", ["created_at", "order_id"], unique=False
    )
    op.create_index("ix_work_orders_grid_code_state", "work_orders", ["grid_code", "state"], unique=False)
    op.create_index("ix_work_orders_officer_id", "work_orders", ["officer_id"], unique=False)
    op.create_index("ix_work_orders_state_deadline", "work_orders", ["state", "deadline"], unique=False)
    op.create_index("ix_work_orders_worker_id", "work_orders", ["worker_id"], unique=False)

    op.create_table(
        "work_order_events",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.Text(), nullable=False),
        sa.Column("from_state", sa.Text(), nullable=True),
        sa.Column("to_state", sa.Text(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column(
            "at",
            sa.DateTime().with_variant(sqlite.DATETIME(storage_format=_SQLITE_DATETIME), "sqlite"),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False, comment="工单版本 (变更后)"),
        sa.ForeignKeyConstraint(
            ["order_id"], ["work_orders.order_id"], name=op.f("fk_work_order_events_order_id_work_orders")
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_work_order_events")),
        comment="工单流转记录 (只增不改, 全过程留痕)",
    )
    op.create_index("ix_work_order_events_at", "work_order_events", ["at"], unique=False)
    op.create_index(
        "ix_work_order_events_order_id_event_id", "work_order_events", ["order_id", "event_id"], unique=False
    )
    _spatial_and_triggers()


def downgrade() -> None:
    _drop_spatial_and_triggers()
    op.drop_index("ix_work_order_events_order_id_event_id", table_name="work_order_events")
    op.drop_index("ix_work_order_events_at", table_name="work_order_events")

    op.drop_table("work_order_events")
    op.drop_index("ix_work_orders_worker_id", table_name="work_orders")
    op.drop_index("ix_work_orders_state_deadline", table_name="work_orders")
    op.drop_index("ix_work_orders_officer_id", table_name="work_orders")
    op.drop_index("ix_work_orders_grid_code_state", table_name="work_orders")
    op.drop_index("ix_work_orders_created_at_order_id", table_name="work_orders")

    op.drop_table("work_orders")
    op.drop_index("ix_warnings_model_id_created_at", table_name="warnings")
    op.drop_index("ix_warnings_grid_code_created_at", table_name="warnings")

    op.drop_table("warnings")
    op.drop_index("ix_visits_visited_at_visit_id", table_name="visits")
    op.drop_index("ix_visits_target_id", table_name="visits")
    op.drop_index("ix_visits_staff_id", table_name="visits")
    op.drop_index("ix_visits_grid_code_visited_at", table_name="visits")

    op.drop_table("visits")
    op.drop_index("ix_units_unit_code", table_name="units")
    op.drop_index("ix_units_parent_code", table_name="units")

    op.drop_table("units")
    op.drop_table("stations")
    op.drop_index("ix_staff_unit_code_role", table_name="staff")

    op.drop_table("staff")
    op.drop_index("ix_population_registered_at_person_id", table_name="population")
    op.drop_index("ix_population_grid_code_registered_at", table_name="population")
    op.drop_index("ix_population_address_id", table_name="population")

    op.drop_table("population")
    op.drop_index("ix_police_units_level", table_name="police_units")

    op.drop_table("police_units")
    op.drop_index("ix_persons_of_concern_person_id", table_name="persons_of_concern")
    op.drop_index("ix_persons_of_concern_listed_at_poc_id", table_name="persons_of_concern")
    op.drop_index("ix_persons_of_concern_grid_code_listed_at", table_name="persons_of_concern")

    op.drop_table("persons_of_concern")
    op.drop_index("ix_patrol_points_track_id_recorded_at", table_name="patrol_points")
    op.drop_index("ix_patrol_points_staff_id", table_name="patrol_points")
    op.drop_index("ix_patrol_points_recorded_at_fix_id", table_name="patrol_points")
    op.drop_index("ix_patrol_points_grid_code_recorded_at", table_name="patrol_points")

    op.drop_table("patrol_points")
    op.drop_table("layer_loads")
    op.drop_index("ix_incidents_occurred_at_incident_id", table_name="incidents")
    op.drop_index("ix_incidents_grid_code_occurred_at", table_name="incidents")
    op.drop_index("ix_incidents_address_id", table_name="incidents")

    op.drop_table("incidents")
    op.drop_table("incident_counts")
    op.drop_index("ix_hazards_grid_code_found_at", table_name="hazards")
    op.drop_index("ix_hazards_found_at_hazard_id", table_name="hazards")
    op.drop_index("ix_hazards_address_id", table_name="hazards")

    op.drop_table("hazards")
    op.drop_table("grids")
    op.drop_index("ix_grid_units_village_code", table_name="grid_units")
    op.drop_index("ix_grid_units_township_code", table_name="grid_units")
    op.drop_index("ix_grid_units_station_code", table_name="grid_units")
    op.drop_index("ix_grid_units_district_code", table_name="grid_units")
    op.drop_index("ix_grid_units_county_code", table_name="grid_units")
    op.drop_index("ix_grid_units_city_code", table_name="grid_units")
    op.drop_index("ix_grid_units_bureau_code", table_name="grid_units")

    op.drop_table("grid_units")
    op.drop_table("grid_figures")
    op.drop_table("grid_district")
    op.drop_index("ix_districts_station_code", table_name="districts")

    op.drop_table("districts")
    op.drop_index("ix_disputes_reported_at_dispute_id", table_name="disputes")
    op.drop_index("ix_disputes_grid_code_reported_at", table_name="disputes")
    op.drop_index("ix_disputes_address_id", table_name="disputes")

    op.drop_table("disputes")
    op.drop_index("ix_cameras_installed_at_camera_id", table_name="cameras")
    op.drop_index("ix_cameras_grid_code_installed_at", table_name="cameras")

    op.drop_table("cameras")
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_actor_at", table_name="audit_log")

    op.drop_table("audit_log")
    op.drop_index("ix_admin_units_level", table_name="admin_units")

    op.drop_table("admin_units")
    op.drop_index("ix_addresses_grid_code_created_at", table_name="addresses")
    op.drop_index("ix_addresses_created_at_address_id", table_name="addresses")

    op.drop_table("addresses")
