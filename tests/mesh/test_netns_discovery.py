"""Real daemons in network namespaces find each other by real multicast DNS."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from meshportal.mesh.advert import vector_digest
from tests.mesh.lab import Lab, wait_for

pytestmark = [pytest.mark.netns, pytest.mark.slow]


def _sees(lab: Lab, box_index: int, others: list[int]) -> bool:
    box = lab.boxes[box_index]
    peers = box.peers()
    return all(
        lab.boxes[i].node_id in peers and peers[lab.boxes[i].node_id]["online"] for i in others
    )


def test_three_boxes_discover_each_other(lab: Lab) -> None:
    boxes = [lab.host(i) for i in (1, 2, 3)]
    start = time.monotonic()
    for box in boxes:
        lab.start(box)
    wait_for(
        lambda: all(_sees(lab, i, [j for j in range(3) if j != i]) for i in range(3)),
        30, "every box sees the two others",
    )  # fmt: skip
    print(f"\ndiscovery of 3 boxes: {time.monotonic() - start:.2f} s after the first start")
    peers = boxes[0].peers()
    second = peers[boxes[1].node_id]
    assert second["addresses"] == [boxes[1].ip]
    assert second["name"] == "box2" and second["digest"] == vector_digest({})
    assert second["trusted"] is False  # seen is not trusted
    assert boxes[0].node_id not in peers  # a box does not list itself
    # Seen-but-untrusted boxes show in status, with their node id.
    report = lab.cli(boxes[0], "status")
    assert boxes[1].node_id in report.stdout and boxes[2].node_id in report.stdout


def test_pairing_by_code_across_the_network(lab: Lab) -> None:
    first, second = lab.host(1), lab.host(2)
    lab.start(first)
    lab.start(second)
    wait_for(lambda: _sees(lab, 1, [0]), 30, "box2 sees box1")
    show = lab.cli_background(first, "peer", "pair", "--show")
    assert show.stdout is not None
    code = show.stdout.readline().split(":", 1)[1].split()[0]
    joined: list[subprocess.CompletedProcess[str]] = []

    def join() -> bool:
        # Until box1's new TXT record (pair=1) reaches box2, box2 finds nobody to try.
        joined.append(lab.cli(second, "peer", "pair", code))
        return "no box showing a code" not in joined[-1].stderr

    wait_for(join, 15, "box2 finds box1 showing a code")
    assert joined[-1].returncode == 0, joined[-1].stderr
    assert first.node_id in joined[-1].stdout
    rest = show.communicate(timeout=15)[0]
    assert show.returncode == 0 and second.node_id in rest
    assert first.peers()[second.node_id]["trusted"]
    assert second.peers()[first.node_id]["trusted"]


def test_a_box_whose_link_comes_up_later_is_found(lab: Lab) -> None:
    early, late = lab.host(1), lab.host(2, link_up=False)
    lab.start(early)
    lab.start(late, "0.0.0.0")
    time.sleep(1.5)  # the late box has checked its interfaces at least once: nothing yet
    assert late.node_id not in early.peers()
    lab.link_up(late)
    took = wait_for(lambda: _sees(lab, 0, [1]) and _sees(lab, 1, [0]), 30, "found after link up")
    print(f"\nfound {took:.2f} s after its address appeared")
    assert early.peers()[late.node_id]["addresses"] == [late.ip]


def test_a_vanished_peer_ages_out(lab: Lab) -> None:
    stays, goes = lab.host(1), lab.host(2)
    lab.start(stays)
    lab.start(goes)
    wait_for(lambda: _sees(lab, 0, [1]), 30, "box1 sees box2")
    goes.stop(signal.SIGKILL)  # no goodbye packet
    took = wait_for(
        lambda: not stays.peers()[goes.node_id]["online"], 30, "box2 aged out"
    )  # fmt: skip
    print(f"\nvanished peer aged out after {took:.2f} s (TTL 4 s)")
    assert stays.peers()[goes.node_id]["last_seen"] is not None
    lab.start(goes)  # back, same identity: the same row comes back online
    wait_for(lambda: _sees(lab, 0, [1]), 30, "box2 seen again after its return")
    assert len(stays.peers()) == 1
