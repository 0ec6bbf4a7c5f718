import socket

import pytest


def test_resolving_a_public_host_fails_loudly():
    with pytest.raises(OSError, match="may not reach the network"):
        socket.getaddrinfo("api.openai.com", 443)


def test_loopback_still_resolves():
    assert socket.getaddrinfo("127.0.0.1", 80)
