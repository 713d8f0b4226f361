"""Word lists for plausible Chinese names and addresses in the demo city (演示数据用字)."""

from __future__ import annotations

import numpy as np

# The most common surnames with rough frequencies (percent), enough for realistic name mixes.
SURNAMES = np.array(
    list(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
    )
)
_SURNAME_FREQ = np.linspace(7.0, 0.3, len(SURNAMES)) ** 1.6
SURNAME_P = _SURNAME_FREQ / _SURNAME_FREQ.sum()

GIVEN_CHARS = np.array(
    list(
        "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国文辉鹏飞玉兰红梅婷宇浩然子轩梓涵欣怡佳琪"
        "志强海燕晓东春雷雪丽秋菊冬梅振华立新永生德胜金凤银花家豪俊杰思远雨萱诗琪博文嘉怡一诺天佑"
    )
)

PLACE_CHARS = np.array(
    list("东西南北中新兴和平安福康宁泰丰盛华荣昌盈祥瑞富民乐园港湾河湖山林桥塘滨江海城家庄营集陈王李")
)

ROAD_SUFFIX = np.array(["路", "街", "大道", "巷"])
ORIGIN_PROVINCES = np.array(
    ["安徽", "河南", "四川", "贵州", "江西", "湖北", "湖南", "山东", "云南", "甘肃", "江苏", "浙江"]
)
# Region code prefixes (GB/T 2260) for the provinces above, used for floating residents' ID numbers.
ORIGIN_REGION_CODES = np.array(
    [
        "341202",
        "411302",
        "510104",
        "520102",
        "360102",
        "420106",
        "430104",
        "370102",
        "530102",
        "620102",
        "321102",
        "330106",
    ]
)


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` names: a surname and one or two given characters (about 70 % two)."""
    sur = rng.choice(SURNAMES, size=n, p=SURNAME_P)
    g1 = rng.choice(GIVEN_CHARS, size=n)
    g2 = rng.choice(GIVEN_CHARS, size=n)
    two = rng.random(n) < 0.7
    given = np.where(two, np.char.add(g1, g2), g1)
    return np.char.add(sur, given)


def place_names(rng: np.random.Generator, n: int, suffix: str) -> np.ndarray:
    """``n`` distinct two-character place names followed by ``suffix`` (e.g. 社区, 村, 街道)."""
    pool = np.char.add(PLACE_CHARS[:, None], PLACE_CHARS[None, :]).ravel()
    pool = pool[np.array([s[0] != s[1] for s in pool])]
    if n <= len(pool):
        picked = rng.choice(pool, size=n, replace=False)
    else:
        picked = np.char.add(rng.choice(pool, size=n), np.char.mod("%d", np.arange(n)))
    return np.char.add(picked.astype(str), suffix)


def phones(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` 11-digit mobile numbers with real prefixes (13x, 15x, 18x, 19x)."""
    prefixes = np.array(
        [
            "133",
            "135",
            "136",
            "138",
            "139",
            "150",
            "151",
            "152",
            "158",
            "159",
            "180",
            "181",
            "186",
            "187",
            "188",
            "189",
            "199",
        ]
    )
    body = rng.integers(0, 100_000_000, size=n)
    return np.char.add(rng.choice(prefixes, size=n), np.char.zfill(body.astype(str), 8))
