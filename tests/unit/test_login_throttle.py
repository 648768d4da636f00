"""Which client a log-in attempt counts against (fivesafes.web.throttle)."""

from __future__ import annotations

import pytest

from fivesafes.web.throttle import client_address


@pytest.mark.parametrize(
    ("host", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),  # one /64 is one household or server
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
        ("x" * 100, "x" * 64),
    ],
)
def test_the_client_of_an_address(host: str | None, client: str) -> None:
    assert client_address(host) == client
