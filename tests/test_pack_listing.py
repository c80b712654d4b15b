"""`pack list` with the daemon stopped shows what the next start serves: the one rule
the daemon's passes use (must_go), fed from the disk and the database."""

from __future__ import annotations

from pathlib import Path

from meshportal.pack_catalog import parse_accept
from meshportal.pack_listing import NOT_ACCEPTED, must_go, pack_rows, would_serve
from meshportal.pack_withdrawals import REMOVED, UNTRUSTED, Withdrawal
from meshportal.packs import load_packs
from tests.test_packs import GOOD, make_pack

TRUSTED = "TRUSTED"


def test_each_reason_a_pass_withdraws_an_installed_pack_for() -> None:
    trusted = {TRUSTED}.__contains__
    every, only_eau = parse_accept(["*"]), parse_accept(["eau"])
    removed = {"cuisine": Withdrawal("cuisine", REMOVED)}
    assert must_go("cuisine", TRUSTED, {}, trusted, every) == ""
    assert must_go("cuisine", TRUSTED, removed, trusted, every) == REMOVED
    assert must_go("cuisine", "STRANGER", {}, trusted, every) == UNTRUSTED
    assert must_go("cuisine", "", {}, trusted, every) == UNTRUSTED  # publisher unknown
    assert must_go("cuisine", TRUSTED, {}, trusted, only_eau) == NOT_ACCEPTED


def test_a_pack_packs_accept_no_longer_names_is_listed_as_withdrawn_at_next_start(
    tmp_path: Path,
) -> None:
    shipped_dir, shared = tmp_path / "content", tmp_path / "packs"
    make_pack(shipped_dir, "bienvenue", GOOD)
    make_pack(shared, "cuisine", GOOD)
    shipped, received = load_packs(shipped_dir)[0], load_packs(shared)[0]
    publishers, trusted = {"cuisine": TRUSTED}, {TRUSTED}.__contains__
    for accept, status, reason in ((["*"], "served", ""), (["eau"], "pending", NOT_ACCEPTED)):
        accepts = parse_accept(accept)
        served = would_serve(shipped, received, publishers, {}, trusted, accepts)
        rows = pack_rows(shipped, received, publishers, {}, trusted, accepts,
                         [p.path for p in served])  # fmt: skip
        row = next(r for r in rows if r.name == "cuisine")
        assert (row.status, row.reason) == (status, reason)
