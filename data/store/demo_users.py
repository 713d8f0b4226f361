"""Demo accounts (演示账号) for the demo city: one per role, each bound to a real unit of the city.

Created once by ``onemap up`` with random passwords written to ``<data>/demo_users.txt`` (mode 0600);
never used outside the demo (a real site adds its users with ``onemap users add``).
"""

from __future__ import annotations

import secrets
from pathlib import Path

from data.store import users as U
from data.store.base import Store
from data.store.demo_history import demo_pair


def demo_accounts(store: Store) -> list[tuple[str, str, str, str | None]]:
    """``(user_id, role, unit_code, staff_id)`` of the demo accounts, from the store's own units and staff.

    The grid worker and officer accounts are the pair whose orders the demo's warning loop left in every
    state (:func:`data.store.demo_history.demo_pair`), else the first of their roles."""
    city = store.units("city").unit_code.iloc[0]
    counties = store.units("county").unit_code.tolist()
    stations = store.units("station").unit_code.tolist()
    staff = store.read("staff", columns=["staff_id", "role", "unit_code"], geometry=False)
    officer = staff[staff["role"] == "社区民警"].sort_values("staff_id").head(1)
    worker = staff[staff["role"] == "专职网格员"].sort_values("staff_id").head(1)
    pair = demo_pair(store)  # the worker with the most pushed orders and their officer, when there are any
    if pair is not None:
        worker = staff[staff["staff_id"] == pair[0]].head(1)
        officer = staff[staff["staff_id"] == pair[1]].head(1)
    out = [
        ("admin", "admin", city, None),
        ("leader", "leader", city, None),
        ("analyst", "analyst", counties[0] if counties else city, None),
        ("chief", "leader", stations[0] if stations else city, None),
        ("wall", "display", city, None),
    ]
    if len(officer):
        out.append(("officer", "officer", officer.unit_code.iloc[0], officer.staff_id.iloc[0]))
    if len(worker):
        out.append(("worker", "grid_worker", worker.unit_code.iloc[0], worker.staff_id.iloc[0]))
    return out


def ensure_demo_users(store: Store, folder: str | Path) -> list[tuple[str, str, str, str]]:
    """Create the demo accounts that do not exist yet; returns ``(user, role, unit, password)`` of new ones
    and appends them to ``<folder>/demo_users.txt``."""
    existing = set(U.list_users(store)["user_id"])
    made = []
    for user_id, role, unit, staff in demo_accounts(store):
        if user_id in existing:
            continue
        password = secrets.token_urlsafe(9)
        U.add_user(store, user_id, password, role, unit, staff_id=staff, name=f"演示-{user_id}")
        made.append((user_id, role, unit, password))
    if made:
        path = Path(folder) / "demo_users.txt"
        new = not path.exists()
        with path.open("a", encoding="utf-8") as fh:
            if new:
                fh.write(
                    "# user  role  unit  password  (demo accounts: change or disable them on a real site)\n"
                )
            for row in made:
                fh.write("  ".join(row) + "\n")
        path.chmod(0o600)
    return made
