"""Layer schemas (图层数据规范): one documented schema per layer.

Every layer the product reads or writes is declared here once: its columns, their types, the code
formats they follow, which columns hold personal information (个人信息, PIPL) and the Chinese column
headers met in the field that are accepted on import. Everything else (the demo generator, the
importers, the validator, the store, the masking of personal data) reads these declarations instead of
repeating column lists.

Coordinates: every geometry is stored in EPSG:4326 (WGS84 lon/lat; CGCS2000 EPSG:4490 is within
centimetres and accepted as is). Areas and distances are computed in a projected CRS chosen by
:func:`geo.crs.projected_crs_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STORAGE_CRS = "EPSG:4326"

# Code formats (编码规则). Administrative codes follow GB/T 2260 (county, 6 digits) and GB/T 10114
# (township 9, village/community 12); a grid code (网格编码) is its village's 12 digits + a 3-digit
# sequence. Police unit codes follow the shape of GA/T 380 organisation codes: 12 digits for 分局 and
# 派出所, and a 警格 (警务区) code is its station's 12 digits + a 2-digit sequence.
CODE_PATTERNS: dict[str, str] = {
    "county_code": r"\d{6}",
    "township_code": r"\d{9}",
    "village_code": r"\d{12}",
    "grid_code": r"\d{15}",
    "bureau_code": r"\d{12}",
    "station_code": r"\d{12}",
    "district_code": r"\d{14}",
}


@dataclass(frozen=True)
class Column:
    """One column of a layer.

    ``dtype`` is one of ``str``, ``int``, ``float``, ``bool``, ``datetime``, ``date``.
    ``pii`` names the kind of personal information held so that it is masked (脱敏) wherever it leaves
    the store, per record and per role (:func:`data.access.mask_frame`): ``name``, ``id_number``,
    ``phone``, ``birth_date`` (shown as its year: beside a masked ID number a whole birth date would give
    its eight hidden digits back), ``work_name`` (a staff member's name, a work identity) and ``address``
    (a standard address, whose house numbers are hidden from roles with a wide area).
    """

    name: str
    dtype: str
    zh: str
    required: bool = True
    pii: str | None = None
    choices: tuple[str, ...] | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""
    future_ok: bool = False  # a date that may lie ahead (deadlines, expiry dates)

    @property
    def pattern(self) -> str | None:
        return CODE_PATTERNS.get(self.name)


@dataclass(frozen=True)
class Layer:
    """A layer: a table, usually with a geometry column, keyed by ``key``."""

    name: str
    zh: str
    key: str
    geometry: str | None  # "Point", "Polygon" (Polygon or MultiPolygon), "LineString" or None
    columns: tuple[Column, ...]
    description: str = ""
    sensitive: bool = False  # the whole layer is sensitive (persons of concern)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"layer {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def zh_names(self) -> dict[str, str]:
        """Column name → its Chinese name (table headers, exports)."""
        return {c.name: c.zh for c in self.columns}

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def pii_columns(self) -> dict[str, str]:
        return {c.name: c.pii for c in self.columns if c.pii}


# Enumerations (代码表).
GRID_TYPES = ("综合", "专属")
DEDICATED_KINDS = ("园区", "商圈市场", "学校", "医院", "企事业单位")
ADMIN_LEVELS = ("city", "county", "township", "village")
POLICE_LEVELS = ("bureau", "station", "district")
STAFF_ROLES = ("网格长", "专职网格员", "兼职网格员", "网格志愿者", "社区民警", "辅警")
RESIDENT_KINDS = ("户籍", "流动")
POC_CATEGORIES = ("社区矫正", "严重精神障碍", "刑满释放", "吸毒人员", "重点信访", "六失人员")
RISK_COLOURS = ("红", "橙", "黄", "绿")
INCIDENT_CATEGORIES = ("刑事", "治安", "纠纷", "交通", "火警", "电诈", "求助", "非警务")
DISPUTE_TYPES = ("婚恋家庭", "邻里", "土地", "经济债务", "劳资", "物业", "其他")
DISPUTE_STATUSES = ("待调解", "调解中", "已化解", "调解失败", "已上报")
DISPUTE_LEVELS = ("一般", "复杂")
HAZARD_TYPES = ("消防", "电动车充电", "燃气", "群租房", "危房", "交通", "治安")
HAZARD_LEVELS = ("一般", "较大", "重大")
VISIT_TARGETS = ("address", "person_of_concern")
CAMERA_KINDS = ("治安监控", "人脸识别", "车辆卡口", "高空瞭望")
WORK_ORDER_STATES = ("待签收", "已签收", "处置中", "已反馈", "已办结", "超期", "升级")
WORK_ORDER_KINDS = ("预警推送", "派单", "上报审核", "非警务分流")
SEVERITIES = ("低", "中", "高")

# Chinese headers met in the field (DOMAIN.md) that map onto a column name on import, for any layer.
COMMON_ALIASES: dict[str, str] = {
    "警情编号": "id",
    "事件编号": "id",
    "编号": "id",
    "网格编码": "grid_code",
    "网格代码": "grid_code",
    "网格名称": "grid_name",
    "网格类型": "grid_type",
    "所属社区": "village_code",
    "村居编码": "village_code",
    "社区编码": "village_code",
    "警格编码": "district_code",
    "警务区编码": "district_code",
    "警务区名称": "district_name",
    "警格名称": "district_name",
    "派出所": "station",
    "派出所编码": "station_code",
    "户数": "households",
    "人口数": "population",
    "经度": "lon",
    "纬度": "lat",
    "发生时间": "occurred_at",
    "报警时间": "occurred_at",
    "警情类别": "category",
    "身份证号": "id_number",
    "身份证号码": "id_number",
    "公民身份号码": "id_number",
    "姓名": "name",
    "联系电话": "phone",
    "手机号": "phone",
    "手机号码": "phone",
}


def _c(name: str, dtype: str, zh: str, **kw) -> Column:
    return Column(name, dtype, zh, **kw)


_ADMIN = Layer(
    "admin_units",
    "行政区划",
    "unit_code",
    "Polygon",
    (
        _c("unit_code", "str", "区划代码", description="6 (county), 9 (township) or 12 (village) digits"),
        _c("unit_name", "str", "区划名称"),
        _c("level", "str", "层级", choices=ADMIN_LEVELS),
        _c("parent_code", "str", "上级代码", required=False),
        _c("urban", "bool", "城区", description="街道/社区 (urban) rather than 镇乡/村"),
    ),
    "Counties (区县), townships (乡镇/街道) and villages/communities (村/社区) as polygons.",
)

_GRIDS = Layer(
    "grids",
    "网格",
    "grid_code",
    "Polygon",
    (
        _c("grid_code", "str", "网格编码", aliases=("网格编号",)),
        _c("grid_name", "str", "网格名称"),
        _c("grid_type", "str", "网格类型", choices=GRID_TYPES),
        _c("dedicated_kind", "str", "专属类别", required=False, choices=DEDICATED_KINDS),
        _c("village_code", "str", "村居编码"),
        _c("township_code", "str", "乡镇街道编码", required=False),
        _c("county_code", "str", "区县编码", required=False),
        _c("district_code", "str", "警格编码", required=False),
        _c("households", "int", "户数"),
        _c("population", "int", "人口数"),
        _c("full_time_workers", "int", "专职网格员数", required=False),
        _c("part_time_workers", "int", "兼职网格员数", required=False),
    ),
    "Governance grids: 综合 comprehensive (residential, ~300 households) and 专属 dedicated "
    "(parks, markets, schools, hospitals, enterprises).",
)

_POLICE = Layer(
    "police_units",
    "公安机构",
    "unit_code",
    "Polygon",
    (
        _c("unit_code", "str", "机构代码"),
        _c("unit_name", "str", "机构名称"),
        _c("level", "str", "层级", choices=POLICE_LEVELS, description="分局 / 派出所 / 警格 (警务区)"),
        _c("parent_code", "str", "上级机构代码", required=False),
        _c("county_code", "str", "区县编码", required=False),
    ),
    "Police jurisdictions: 分局 bureaus, 派出所 stations and 警格 police districts as polygons.",
)

_DISTRICTS = Layer(
    "districts",
    "警格",
    "district_code",
    "Polygon",
    (
        _c("district_code", "str", "警格编码"),
        _c("district_name", "str", "警务区名称"),
        _c("station_code", "str", "派出所编码"),
        _c("station", "str", "派出所", required=False),
        _c("bureau_code", "str", "分局编码", required=False),
        _c("officer_id", "str", "社区民警编号", required=False),
    ),
    "警格 police districts (警务区), one community (urban) or 2-3 villages (rural).",
)

_STATIONS = Layer(
    "stations",
    "派出所",
    "station_code",
    "Point",
    (
        _c("station_code", "str", "派出所编码"),
        _c("station", "str", "派出所"),
        _c("bureau_code", "str", "分局编码"),
        _c("county_code", "str", "区县编码", required=False),
    ),
    "Police station buildings (派出所驻地).",
)

_BINDING = Layer(
    "grid_district",
    "网格警格绑定",
    "grid_code",
    None,
    (
        _c("grid_code", "str", "网格编码"),
        _c("district_code", "str", "警格编码"),
    ),
    "The grid → 警格 binding (一格一警): every grid in exactly one 警格.",
)

_STAFF = Layer(
    "staff",
    "人员力量",
    "staff_id",
    None,
    (
        _c("staff_id", "str", "人员编号"),
        _c("name", "str", "姓名", pii="work_name"),
        _c("role", "str", "角色", choices=STAFF_ROLES),
        _c("unit_code", "str", "所属单元", description="grid_code for grid staff, district_code for police"),
        _c("phone", "str", "联系电话", pii="phone"),
        _c("id_number", "str", "身份证号", pii="id_number", required=False),
        _c("active", "bool", "在岗"),
    ),
    "Grid heads and workers, community officers and auxiliaries.",
)

_ADDRESSES = Layer(
    "addresses",
    "标准地址",
    "address_id",
    "Point",
    (
        _c("address_id", "str", "地址编码", aliases=("地址编号",)),
        _c("address", "str", "标准地址", aliases=("地址", "详细地址"), pii="address"),
        _c("grid_code", "str", "网格编码", required=False),
        _c("building_kind", "str", "建筑类别", required=False),
        _c("households", "int", "户数"),
        _c("created_at", "date", "采集日期"),
    ),
    "Standard addresses (标准地址, 一标三实) with their household count.",
)

_POPULATION = Layer(
    "population",
    "实有人口",
    "person_id",
    None,
    (
        _c("person_id", "str", "人员编号"),
        _c("name", "str", "姓名", pii="name"),
        _c("id_number", "str", "身份证号", pii="id_number"),
        _c("phone", "str", "联系电话", pii="phone", required=False),
        _c("gender", "str", "性别", choices=("男", "女")),
        _c("birth_date", "date", "出生日期", pii="birth_date"),
        _c("resident_kind", "str", "人口类别", choices=RESIDENT_KINDS),
        _c("address_id", "str", "居住地址编码"),
        _c("grid_code", "str", "网格编码"),
        _c("registered", "bool", "已登记", description="entered in the 实有人口 system (采集登记)"),
        _c("verified", "bool", "信息准确", description="checked and found accurate on the last visit"),
        _c("origin", "str", "户籍地", required=False, description="floating population: place of origin"),
        _c("registered_at", "date", "登记日期", required=False),
        _c("permit_expiry", "date", "居住证有效期至", required=False, future_ok=True),
    ),
    "Actual population (实有人口): 户籍 registered residents and 流动 floating population.",
)

_POC = Layer(
    "persons_of_concern",
    "关注人员",
    "poc_id",
    "Point",
    (
        _c("poc_id", "str", "关注人员编号"),
        _c("person_id", "str", "人员编号", required=False),
        _c("name", "str", "姓名", pii="name"),
        _c("id_number", "str", "身份证号", pii="id_number"),
        _c("phone", "str", "联系电话", pii="phone", required=False),
        _c("category", "str", "类别", choices=POC_CATEGORIES),
        _c("risk_colour", "str", "风险等级", choices=RISK_COLOURS, description="分色管理"),
        _c("officer_id", "str", "责任民警", required=False),
        _c("visit_interval_days", "int", "走访周期(天)"),
        _c("address_id", "str", "居住地址编码", required=False),
        _c("grid_code", "str", "网格编码", required=False),
        _c("listed_at", "date", "列管日期"),
    ),
    "Persons of concern (关注人员), visible only to permitted roles.",
    sensitive=True,
)

_INCIDENTS = Layer(
    "incidents",
    "警情",
    "incident_id",
    "Point",
    (
        _c("incident_id", "str", "警情编号", aliases=("id",)),
        _c("occurred_at", "datetime", "发生时间"),
        _c("category", "str", "警情类别", choices=INCIDENT_CATEGORIES),
        _c("valid", "bool", "有效警情", required=False, description="false for duplicate or invalid calls"),
        _c("address_id", "str", "地址编码", required=False),
        _c("caller_phone", "str", "报警电话", pii="phone", required=False, aliases=("报警电话",)),
        _c("person_ids", "str", "涉事人员", required=False, description="';'-joined person_id list"),
        _c("grid_code", "str", "网格编码", required=False),
    ),
    "Police incidents (警情) as points with time and category.",
)

_DISPUTES = Layer(
    "disputes",
    "矛盾纠纷",
    "dispute_id",
    "Point",
    (
        _c("dispute_id", "str", "纠纷编号", aliases=("id",)),
        _c("reported_at", "datetime", "登记时间"),
        _c("dispute_type", "str", "纠纷类型", choices=DISPUTE_TYPES),
        _c("status", "str", "状态", choices=DISPUTE_STATUSES),
        _c("level", "str", "等级", choices=DISPUTE_LEVELS),
        _c("party_names", "str", "当事人", pii="name", required=False),
        _c("person_ids", "str", "当事人编号", required=False),
        _c("violence_history", "bool", "有暴力倾向", required=False),
        _c("address_id", "str", "地址编码", required=False),
        _c("grid_code", "str", "网格编码", required=False),
        _c("resolved_at", "datetime", "化解时间", required=False),
    ),
    "Disputes (矛盾纠纷) and their mediation.",
)

_HAZARDS = Layer(
    "hazards",
    "安全隐患",
    "hazard_id",
    "Point",
    (
        _c("hazard_id", "str", "隐患编号", aliases=("id",)),
        _c("hazard_type", "str", "隐患类型", choices=HAZARD_TYPES),
        _c("level", "str", "隐患等级", choices=HAZARD_LEVELS),
        _c("found_by", "str", "发现人", required=False),
        _c("found_at", "date", "发现日期"),
        _c("deadline", "date", "整改期限", future_ok=True),
        _c("rectified_at", "date", "整改日期", required=False),
        _c("address_id", "str", "地址编码", required=False),
        _c("grid_code", "str", "网格编码", required=False),
    ),
    "Safety hazards (安全隐患) with their rectification deadline.",
)

_VISITS = Layer(
    "visits",
    "走访记录",
    "visit_id",
    None,
    (
        _c("visit_id", "str", "走访编号"),
        _c("staff_id", "str", "走访人"),
        _c("target_kind", "str", "走访对象类别", choices=VISIT_TARGETS),
        _c("target_id", "str", "走访对象"),
        _c("visited_at", "datetime", "走访时间"),
        _c("grid_code", "str", "网格编码"),
    ),
    "Visits (走访) by grid workers and officers to addresses and persons of concern.",
)

_PATROLS = Layer(
    "patrol_points",
    "巡逻轨迹",
    "fix_id",
    "Point",
    (
        _c("fix_id", "str", "定位编号"),
        _c("track_id", "str", "轨迹编号"),
        _c("staff_id", "str", "巡逻人员"),
        _c("recorded_at", "datetime", "定位时间"),
    ),
    "Patrol GPS fixes (巡逻轨迹), one row a fix, grouped by track.",
)

_CAMERAS = Layer(
    "cameras",
    "感知设备",
    "camera_id",
    "Point",
    (
        _c("camera_id", "str", "设备编号"),
        _c("camera_kind", "str", "设备类别", choices=CAMERA_KINDS),
        _c("range_m", "float", "覆盖半径(米)"),
        _c("online", "bool", "在线"),
        _c("installed_at", "date", "安装日期"),
    ),
    "Cameras and sensors (感知设备).",
)

_WORK_ORDERS = Layer(
    "work_orders",
    "工单",
    "order_id",
    None,
    (
        _c("order_id", "str", "工单编号"),
        _c("kind", "str", "工单类别", choices=WORK_ORDER_KINDS),
        _c("source_id", "str", "来源记录", required=False),
        _c("grid_code", "str", "网格编码"),
        _c("district_code", "str", "警格编码", required=False),
        _c("state", "str", "状态", choices=WORK_ORDER_STATES),
        _c("severity", "str", "紧急程度", choices=SEVERITIES),
        _c("created_at", "datetime", "派发时间"),
        _c("deadline", "datetime", "办理时限", future_ok=True),
        _c("closed_at", "datetime", "办结时间", required=False),
        _c("summary", "str", "事由"),
    ),
    "Work orders (工单): pushed warnings, instructions, reports and diverted non-police incidents.",
)

LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        _ADMIN,
        _GRIDS,
        _POLICE,
        _DISTRICTS,
        _STATIONS,
        _BINDING,
        _STAFF,
        _ADDRESSES,
        _POPULATION,
        _POC,
        _INCIDENTS,
        _DISPUTES,
        _HAZARDS,
        _VISITS,
        _PATROLS,
        _CAMERAS,
        _WORK_ORDERS,
    )
}


def layer(name: str) -> Layer:
    """Return the schema of layer ``name``; raise ``KeyError`` naming the known layers."""
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}; known layers: {', '.join(LAYERS)}") from None


def alias_map(layer_name: str) -> dict[str, str]:
    """Header → column name for ``layer_name``: Chinese headers, ``zh`` names and declared aliases.

    Matching is on the header with surrounding white space removed, case-insensitively for Latin text.
    ``id`` maps onto the layer's key.
    """
    lay = layer(layer_name)
    out: dict[str, str] = {}
    names = set(lay.column_names)
    for header, target in COMMON_ALIASES.items():
        if target == "id":
            target = lay.key
        if target in names or target in ("lon", "lat"):
            out[header] = target
    for col in lay.columns:
        out[col.zh] = col.name
        for alias in col.aliases:
            out[alias] = lay.key if alias == "id" else col.name
        out[col.name] = col.name
    out.setdefault("id", lay.key)
    return {_norm_header(k): v for k, v in out.items()}


def _norm_header(header: str) -> str:
    return re.sub(r"\s+", "", str(header)).lower()


def canonical_columns(layer_name: str, headers: list[str]) -> dict[str, str]:
    """Rename map from the headers of a file to this layer's column names (unknown headers are kept)."""
    amap = alias_map(layer_name)
    rename: dict[str, str] = {}
    taken: set[str] = set()
    for h in headers:
        target = amap.get(_norm_header(h))
        if target and target not in taken:
            rename[h] = target
            taken.add(target)
    return rename


@dataclass
class SchemaDoc:
    """Markdown rendering of every layer's schema, for ``docs/schema.md``."""

    layers: dict[str, Layer] = field(default_factory=lambda: LAYERS)

    def render(self) -> str:
        lines = [
            "# Layer schemas (图层数据规范)",
            "",
            "Generated from `data/schema.py` by `onemap schema --markdown`; a test keeps it in sync.",
            f"Every geometry is stored in {STORAGE_CRS} (CGCS2000 EPSG:4490 accepted as is).",
            "Code formats: " + ", ".join(f"`{k}` = `{v}`" for k, v in CODE_PATTERNS.items()) + ".",
            "PII columns are masked by default wherever they leave the store.",
            "",
        ]
        for lay in self.layers.values():
            geom = lay.geometry or "none (table)"
            lines += [
                f"## `{lay.name}` {lay.zh}",
                "",
                lay.description,
                "",
                f"Key `{lay.key}`; geometry {geom}.",
            ]
            if lay.sensitive:
                lines.append("Sensitive layer: visible only to permitted roles.")
            lines += [
                "",
                "| column | type | 中文 | required | PII | values / format |",
                "|---|---|---|---|---|---|",
            ]
            for c in lay.columns:
                fmt = c.pattern or (" / ".join(c.choices) if c.choices else c.description)
                aliases = f" (also {', '.join(c.aliases)})" if c.aliases else ""
                lines.append(
                    f"| `{c.name}` | {c.dtype} | {c.zh}{aliases} | {'yes' if c.required else ''} | "
                    f"{c.pii or ''} | {fmt} |"
                )
            lines.append("")
        lines += ["## Accepted Chinese headers (any layer)", "", "| header | column |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in COMMON_ALIASES.items()]
        return "\n".join(lines) + "\n"
